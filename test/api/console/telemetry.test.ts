import { describe, expect, it } from 'vitest'
import { createTelemetryWindow, windowFor } from '../../../api/console/telemetry.ts'
import type { Reading } from '../../../domain/index.ts'

const H = 3_600_000
const reading = (deviceId: string, ts: number, metrics: Record<string, number>): Reading => ({ deviceId, boot: 1, seq: ts / 1000, ts, metrics })
const typeOf = (id: string) => (id.startsWith('ref-') ? 'refrigerator' as const : undefined)

describe('the recent-telemetry window', () => {
  it('sizes buckets so at most 168 points cover the span', () => {
    expect(windowFor(504)).toEqual({ bucketMs: 3 * H, buckets: 168 })
    expect(windowFor(168)).toEqual({ bucketMs: H, buckets: 168 })
    expect(windowFor(24)).toEqual({ bucketMs: H, buckets: 24 })
  })

  it('keeps the mean per bucket per metric, only the newest buckets, and nothing for unknown devices', async () => {
    const w = createTelemetryWindow({ bucketMs: H, buckets: 3 })
    const t0 = 1000 * H
    w.add([
      reading('ref-a', t0, { cabinet_temp_c: 4, door_open: 0, not_in_catalogue: 9 }),
      reading('ref-a', t0 + 60_000, { cabinet_temp_c: 6, door_open: 1 }),
      reading('ref-a', t0 + 2 * H, { cabinet_temp_c: 5 }),
      reading('xx-unknown', t0, { cabinet_temp_c: 1 }),
    ], typeOf)
    let s = await w.recent('ref-a', 'refrigerator')
    const cab = s!.metrics.indexOf('cabinet_temp_c')
    const door = s!.metrics.indexOf('door_open')
    expect(s!.times).toEqual([t0, t0 + 2 * H])
    expect(s!.values[cab]).toEqual([5, 5])
    expect(s!.values[door]).toEqual([0.5, null])
    expect(w.size()).toBe(1)
    // Two buckets later the first falls out; a reading older than the window is ignored.
    w.add([reading('ref-a', t0 + 4 * H, { cabinet_temp_c: 7 }), reading('ref-a', t0 + 30_000, { cabinet_temp_c: 100 })], typeOf)
    s = await w.recent('ref-a', 'refrigerator')
    expect(s!.times).toEqual([t0 + 2 * H, t0 + 4 * H])
    expect(s!.values[cab]).toEqual([5, 7])
    expect(await w.recent('ref-b', 'refrigerator')).toBeNull()
  })
})

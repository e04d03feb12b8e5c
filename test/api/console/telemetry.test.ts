import { describe, expect, it } from 'vitest'
import { createStoredTelemetry, createWindowBuffer, windowFor } from '../../../api/console/telemetry.ts'
import { openStore } from '../../../api/store/index.ts'
import type { Reading } from '../../../domain/index.ts'
import { fridge } from '../fixtures.ts'

const H = 3_600_000
const reading = (deviceId: string, ts: number, metrics: Record<string, number>): Reading => ({ deviceId, boot: 1, seq: ts / 1000, ts, metrics })

describe('the recent-telemetry window', () => {
  it('sizes buckets so at most 168 points cover the span', () => {
    expect(windowFor(504)).toEqual({ bucketMs: 3 * H, buckets: 168 })
    expect(windowFor(168)).toEqual({ bucketMs: H, buckets: 168 })
    expect(windowFor(24)).toEqual({ bucketMs: H, buckets: 24 })
  })

  it('the buffer folds readings into per-bucket means with counts until taken, and drops readings older than the window', () => {
    const b = createWindowBuffer({ bucketMs: H, buckets: 3 })
    const t0 = 1000 * H
    b.add(reading('ref-a', t0, { cabinet_temp_c: 4, door_open: 0, not_in_catalogue: 9 }), 'refrigerator')
    b.add(reading('ref-a', t0 + 60_000, { cabinet_temp_c: 6, door_open: 1 }), 'refrigerator')
    b.add(reading('ref-a', t0 + 2 * H, { cabinet_temp_c: 5 }), 'refrigerator')
    expect(b.pending()).toBe(2)
    expect(b.take()).toEqual([
      { deviceId: 'ref-a', startMs: t0, means: { cabinet_temp_c: [5, 2], door_open: [0.5, 2] } },
      { deviceId: 'ref-a', startMs: t0 + 2 * H, means: { cabinet_temp_c: [5, 1] } },
    ])
    expect([b.pending(), b.take()]).toEqual([0, []])
    // The buffer remembers each device's newest bucket: three buckets back is outside the window.
    b.add(reading('ref-a', t0 - H, { cabinet_temp_c: 100 }), 'refrigerator')
    b.add(reading('ref-a', t0 + 3 * H, { cabinet_temp_c: 7 }), 'refrigerator')
    expect(b.take()).toEqual([{ deviceId: 'ref-a', startMs: t0 + 3 * H, means: { cabinet_temp_c: [7, 1] } }])
  })

  it('the charts read the stored buckets of the device, one row per catalogue metric', async () => {
    const store = openStore({ dataDir: null })
    try {
      const { device } = store.createDevice(fridge)
      const shape = { bucketMs: H, buckets: 24 }
      const source = createStoredTelemetry(store, shape)
      expect(await source.recent(device.id, 'refrigerator')).toBeNull()
      const b = createWindowBuffer(shape)
      const t0 = 2000 * H
      b.add(reading(device.id, t0, { cabinet_temp_c: 4 }), 'refrigerator')
      store.addToWindow(b.take(), shape)
      b.add(reading(device.id, t0 + 1000, { cabinet_temp_c: 8 }), 'refrigerator')
      b.add(reading(device.id, t0 + H, { cabinet_temp_c: 3 }), 'refrigerator')
      store.addToWindow(b.take(), shape)
      const s = (await source.recent(device.id, 'refrigerator'))!
      const cab = s.metrics.indexOf('cabinet_temp_c')
      expect(s.metrics.length).toBeGreaterThan(1)
      expect(s.times).toEqual([t0, t0 + H])
      expect(s.values[cab]).toEqual([6, 3])
      expect(s.values[s.metrics.indexOf('door_open')]).toEqual([null, null])
      expect([s.source, s.bucketMs]).toEqual(['store', H])
    } finally {
      store.close()
    }
  })
})

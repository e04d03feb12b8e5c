/** Console charts read from a real InfluxDB 1.x when one is configured (the v1 path; see docs/console.md for v2). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInfluxTelemetry } from '../../../api/console/influx-telemetry.ts'
import { startInfluxDB, type InfluxDBService } from '../../services/influxdb.ts'

const H = 3_600_000

describe('console telemetry from InfluxDB 1.x', () => {
  let influx: InfluxDBService
  beforeAll(async () => {
    influx = await startInfluxDB({ database: 'forewarn' })
  })
  afterAll(async () => influx?.stop())

  it('answers bucket means of the device\'s telemetry fields within the window, in catalogue order', async () => {
    const now = Date.now()
    const b0 = Math.floor(now / (3 * H)) * 3 * H - 6 * H
    const lines = [
      `telemetry,device_id=ref-one,type=refrigerator cabinet_temp_c=4,door_open=0 ${(b0 + 60_000) * 1e6}`,
      `telemetry,device_id=ref-one,type=refrigerator cabinet_temp_c=6,door_open=1 ${(b0 + 120_000) * 1e6}`,
      `telemetry,device_id=ref-one,type=refrigerator cabinet_temp_c=8 ${(b0 + 3 * H + 60_000) * 1e6}`,
      `telemetry,device_id=ref-two,type=refrigerator cabinet_temp_c=99 ${(b0 + 60_000) * 1e6}`,
      `telemetry,device_id=ref-one,type=refrigerator cabinet_temp_c=50 ${(now - 40 * 24 * H) * 1e6}`,
    ]
    const res = await fetch(`${influx.url}/write?db=forewarn&precision=ns`, { method: 'POST', body: lines.join('\n') })
    expect(res.status).toBe(204)
    const source = createInfluxTelemetry({ api: 'v1', url: influx.url, database: 'forewarn', username: null, password: null }, { bucketMs: 3 * H, buckets: 168 })
    const s = await source.recent('ref-one', 'refrigerator')
    expect(s).not.toBeNull()
    const cab = s!.metrics.indexOf('cabinet_temp_c')
    const door = s!.metrics.indexOf('door_open')
    expect(s!.source).toBe('influxdb')
    expect(s!.times).toEqual([b0, b0 + 3 * H])
    expect(s!.values[cab]).toEqual([5, 8])
    expect(s!.values[door]).toEqual([0.5, null])
    expect(await source.recent('ref-none', 'refrigerator')).toBeNull()
  })
})

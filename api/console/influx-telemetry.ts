/**
 * Console charts from InfluxDB, when Forewarn writes telemetry there: the same buckets as the
 * embedded window (means of the device's `telemetry` fields, docs/influxdb.md has the schema),
 * over the same span before now.
 * 1.x: InfluxQL over `/query`. 2.x/Cloud: Flux through the client library.
 */
import { InfluxDB } from '@influxdata/influxdb-client'
import { applianceSpec, measurements, tagKeys, type ApplianceType } from '../../domain/index.ts'
import type { InfluxConfig } from '../../ingest/sinks/influx-config.ts'
import type { RecentSeries, TelemetrySource, WindowShape } from './telemetry.ts'

const TIMEOUT_MS = 10_000

type Points = Map<number, Map<string, number>>

function toSeries(type: ApplianceType, points: Points, bucketMs: number): RecentSeries | null {
  if (points.size === 0) return null
  const metrics = applianceSpec(type).metrics.map((m) => m.name)
  const times = [...points.keys()].sort((a, b) => a - b)
  const values = metrics.map((m) => times.map((t) => points.get(t)?.get(m) ?? null))
  return { metrics, times, values, bucketMs, source: 'influxdb' }
}

const quoted = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`

async function influxQl(c: Extract<InfluxConfig, { api: 'v1' }>, deviceId: string, w: WindowShape): Promise<Points> {
  const q = `SELECT mean(*) FROM "${measurements.telemetry}" WHERE "${tagKeys.device}" = ${quoted(deviceId)} AND time > now() - ${(w.buckets * w.bucketMs) / 3_600_000}h GROUP BY time(${w.bucketMs / 60_000}m) fill(none)`
  const url = new URL('query', c.url.endsWith('/') ? c.url : `${c.url}/`)
  url.searchParams.set('db', c.database)
  url.searchParams.set('epoch', 'ms')
  url.searchParams.set('q', q)
  const headers: Record<string, string> = {}
  if (c.username !== null) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (!res.ok) throw new Error(`InfluxDB query answered ${res.status}`)
  const body = await res.json() as { results?: Array<{ series?: Array<{ columns: string[]; values: Array<Array<number | null>> }> }> }
  const points: Points = new Map()
  for (const s of body.results?.[0]?.series ?? []) {
    for (const row of s.values) {
      const fields = new Map<string, number>()
      s.columns.forEach((col, i) => {
        const v = row[i]
        if (i > 0 && typeof v === 'number') fields.set(col.replace(/^mean_/, ''), v)
      })
      points.set(row[0] as number, fields)
    }
  }
  return points
}

async function flux(c: Extract<InfluxConfig, { api: 'v2' }>, deviceId: string, w: WindowShape): Promise<Points> {
  const api = new InfluxDB({ url: c.url, token: c.token, timeout: TIMEOUT_MS }).getQueryApi(c.org)
  const q = `from(bucket: ${JSON.stringify(c.bucket)})
  |> range(start: -${(w.buckets * w.bucketMs) / 3_600_000}h)
  |> filter(fn: (r) => r._measurement == ${JSON.stringify(measurements.telemetry)} and r.${tagKeys.device} == ${JSON.stringify(deviceId)})
  |> aggregateWindow(every: ${w.bucketMs / 60_000}m, fn: mean, createEmpty: false, timeSrc: "_start")`
  const rows = await api.collectRows<{ _time: string; _field: string; _value: number }>(q)
  const points: Points = new Map()
  for (const r of rows) {
    const t = Date.parse(r._time)
    let fields = points.get(t)
    if (fields === undefined) points.set(t, (fields = new Map()))
    fields.set(r._field, r._value)
  }
  return points
}

export function createInfluxTelemetry(config: InfluxConfig, w: WindowShape): TelemetrySource {
  return {
    async recent(deviceId, type) {
      const points = config.api === 'v1' ? await influxQl(config, deviceId, w) : await flux(config, deviceId, w)
      return toSeries(type, points, w.bucketMs)
    },
  }
}

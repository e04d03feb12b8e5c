/**
 * Recent telemetry for the console's charts. The embedded default keeps, per device, a bounded
 * downsampled window in the records store (table `telemetry_window`, docs/console.md): per bucket
 * of event time, the mean of each catalogue metric and how many readings it holds, at most 168
 * buckets per device (default: 21 days in 3-hour buckets, the demo fleet's whole replay), so the
 * charts survive a restart. The pipeline adds readings to a `WindowBuffer` (sums per bucket since
 * the last flush) and writes it with the health records (cli/pipeline.ts). Where InfluxDB is
 * configured the charts read from it instead (./influx-telemetry.ts).
 */
import { applianceSpec, type ApplianceType, type Reading } from '../../domain/index.ts'
import type { StoredBucket, WindowBucket, WindowShape } from '../store/types.ts'

export type { WindowShape }

export interface RecentSeries {
  /** Metric names in catalogue order. */
  metrics: string[]
  /** Bucket start times, ms since epoch (event time), ascending. */
  times: number[]
  /** values[i][j]: mean of metrics[i] in bucket j; null when the bucket had no reading of it. */
  values: Array<Array<number | null>>
  /** Width of one point, ms. */
  bucketMs: number
  /** Where the numbers came from: 'store' (the embedded window in the records store) or 'influxdb'. */
  source: 'store' | 'influxdb'
}

/** What the console charts read; the stored window and InfluxDB both answer it. */
export interface TelemetrySource {
  recent(deviceId: string, type: ApplianceType): Promise<RecentSeries | null>
}

export const DEFAULT_WINDOW_HOURS = 21 * 24
export const MAX_POINTS = 168

/** Whole-hour buckets, at most MAX_POINTS of them, covering at least `hours`. */
export function windowFor(hours: number): WindowShape {
  const bucketHours = Math.max(1, Math.ceil(hours / MAX_POINTS))
  return { bucketMs: bucketHours * 3_600_000, buckets: Math.ceil(hours / bucketHours) }
}

export const defaultWindowShape: Readonly<WindowShape> = windowFor(DEFAULT_WINDOW_HOURS)

interface DeviceBuffer {
  type: ApplianceType
  /** Newest bucket number (floor(ts / bucketMs)) seen since start; -1 before any. */
  newest: number
  /** Bucket number → per metric row: sums, then counts. */
  pending: Map<number, Float64Array>
  /** The last bucket added to and its sums (most readings land in the device's current bucket). */
  lastBucket: number
  last: Float64Array | null
}

/**
 * Readings folded into per-bucket sums between two flushes. Its size is the devices heard from
 * since the last flush times the buckets their readings fell in (one, mostly), plus the newest
 * bucket per device; `take()` empties it.
 */
export interface WindowBuffer {
  add(r: Reading, type: ApplianceType): void
  /** The buckets since the last take, as means with counts; empties the buffer. */
  take(): WindowBucket[]
  /** Buckets waiting for the next take. */
  pending(): number
}

export function createWindowBuffer(shape: WindowShape): WindowBuffer {
  const { bucketMs, buckets } = shape
  const devices = new Map<string, DeviceBuffer>()
  const names = new Map<ApplianceType, string[]>()
  // Metric name → row, per type, computed once.
  const rows = new Map<ApplianceType, Map<string, number>>()
  const rowsOf = (type: ApplianceType): Map<string, number> => {
    let r = rows.get(type)
    if (r === undefined) {
      const list = applianceSpec(type).metrics.map((m) => m.name)
      names.set(type, list)
      r = new Map(list.map((m, i) => [m, i]))
      rows.set(type, r)
    }
    return r
  }
  let pendingBuckets = 0

  return {
    add(r, type) {
      let d = devices.get(r.deviceId)
      if (d === undefined || d.type !== type) devices.set(r.deviceId, (d = { type, newest: -1, pending: new Map(), lastBucket: -1, last: null }))
      const b = Math.floor(r.ts / bucketMs)
      if (d.newest - b >= buckets) return // older than the window
      if (b > d.newest) d.newest = b
      const metricRows = rowsOf(type)
      const n = metricRows.size
      let acc = d.lastBucket === b ? d.last : d.pending.get(b)
      if (acc === undefined || acc === null) {
        d.pending.set(b, (acc = new Float64Array(2 * n)))
        pendingBuckets++
      }
      d.lastBucket = b
      d.last = acc
      for (const name in r.metrics) {
        const row = metricRows.get(name)
        if (row === undefined) continue
        acc[row]! += r.metrics[name]!
        acc[n + row]! += 1
      }
    },
    take() {
      const out: WindowBucket[] = []
      for (const [deviceId, d] of devices) {
        if (d.pending.size === 0) continue
        const list = names.get(d.type)!
        const n = list.length
        for (const [b, acc] of d.pending) {
          const means: Record<string, readonly [number, number]> = {}
          let any = false
          for (let i = 0; i < n; i++) {
            const c = acc[n + i]!
            if (c > 0) {
              means[list[i]!] = [acc[i]! / c, c]
              any = true
            }
          }
          if (any) out.push({ deviceId, startMs: b * bucketMs, means })
        }
        d.pending.clear()
        d.last = null
        d.lastBucket = -1
      }
      pendingBuckets = 0
      return out
    },
    pending: () => pendingBuckets,
  }
}

/** The part of the records store the charts read (either store shape). */
export interface WindowReader {
  recentWindow(deviceId: string, shape: WindowShape): StoredBucket[] | Promise<StoredBucket[]>
}

/** The charts' source on the embedded default: the window stored in the records store. */
export function createStoredTelemetry(store: WindowReader, shape: WindowShape): TelemetrySource {
  return {
    async recent(deviceId, type) {
      const found = await store.recentWindow(deviceId, shape)
      if (found.length === 0) return null
      const metrics = applianceSpec(type).metrics.map((m) => m.name)
      return {
        metrics,
        times: found.map((b) => b.startMs),
        values: metrics.map((m) => found.map((b) => b.means[m]?.[0] ?? null)),
        bucketMs: shape.bucketMs,
        source: 'store',
      }
    },
  }
}

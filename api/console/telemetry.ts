/**
 * Recent telemetry for the console's charts. The embedded default keeps, per device, a bounded
 * downsampled window in memory: the mean of each metric per bucket of event time, at most 168
 * buckets (default: 21 days in 3-hour buckets, the demo fleet's whole replay), a ring that
 * overwrites its oldest bucket. Per device that is buckets × (metrics × 6 + 8) bytes, about 10 KB
 * for 9 metrics, so 10,000 devices hold about 100 MB; `FOREWARN_CONSOLE_WINDOW_HOURS=0` turns it
 * off. It lives in memory only: after a restart it fills again from new readings. Where InfluxDB
 * is configured the charts read from it instead (./influx-telemetry.ts).
 */
import { applianceSpec, type ApplianceType, type Reading } from '../../domain/index.ts'

export interface RecentSeries {
  /** Metric names in catalogue order. */
  metrics: string[]
  /** Bucket start times, ms since epoch (event time), ascending. */
  times: number[]
  /** values[i][j]: mean of metrics[i] in bucket j; null when the bucket had no reading of it. */
  values: Array<Array<number | null>>
  /** Width of one point, ms. */
  bucketMs: number
  /** Where the numbers came from: 'memory' (the embedded window) or 'influxdb'. */
  source: 'memory' | 'influxdb'
}

/** What the console charts read; the embedded window and InfluxDB both answer it. */
export interface TelemetrySource {
  recent(deviceId: string, type: ApplianceType): Promise<RecentSeries | null>
}

export interface WindowOptions {
  bucketMs: number
  buckets: number
}

export const DEFAULT_WINDOW_HOURS = 21 * 24
export const MAX_POINTS = 168

/** Whole-hour buckets, at most MAX_POINTS of them, covering at least `hours`. */
export function windowFor(hours: number): WindowOptions {
  const bucketHours = Math.max(1, Math.ceil(hours / MAX_POINTS))
  return { bucketMs: bucketHours * 3_600_000, buckets: Math.ceil(hours / bucketHours) }
}

export const defaultWindowOptions: Readonly<WindowOptions> = windowFor(DEFAULT_WINDOW_HOURS)

const MAX_COUNT = 65_535

interface DeviceWindow {
  type: ApplianceType
  /** Bucket number (floor(ts / bucketMs)) held in each slot; -1 when empty. */
  slotBucket: Float64Array
  /** metrics × buckets. */
  sums: Float32Array
  counts: Uint16Array
  newest: number
}

export interface TelemetryWindow extends TelemetrySource {
  add(batch: readonly Reading[], typeOf: (deviceId: string) => ApplianceType | undefined): void
  forget(deviceId: string): void
  /** Devices held, for tests and metrics. */
  size(): number
}

export function createTelemetryWindow(opts: WindowOptions = defaultWindowOptions): TelemetryWindow {
  const { bucketMs, buckets } = opts
  const devices = new Map<string, DeviceWindow>()
  // Metric name → row, per type, computed once.
  const rows = new Map<ApplianceType, Map<string, number>>()
  const rowsOf = (type: ApplianceType): Map<string, number> => {
    let r = rows.get(type)
    if (r === undefined) {
      r = new Map(applianceSpec(type).metrics.map((m, i) => [m.name, i]))
      rows.set(type, r)
    }
    return r
  }

  const windowOf = (deviceId: string, type: ApplianceType): DeviceWindow => {
    let w = devices.get(deviceId)
    if (w === undefined || w.type !== type) {
      const n = applianceSpec(type).metrics.length
      w = { type, slotBucket: new Float64Array(buckets).fill(-1), sums: new Float32Array(n * buckets), counts: new Uint16Array(n * buckets), newest: -1 }
      devices.set(deviceId, w)
    }
    return w
  }

  return {
    add(batch, typeOf) {
      for (const r of batch) {
        const type = typeOf(r.deviceId)
        if (type === undefined) continue
        const w = windowOf(r.deviceId, type)
        const b = Math.floor(r.ts / bucketMs)
        if (w.newest - b >= buckets) continue // older than the window
        const slot = b % buckets
        if (w.slotBucket[slot] !== b) {
          if (w.slotBucket[slot]! > b) continue
          w.slotBucket[slot] = b
          for (let i = slot; i < w.sums.length; i += buckets) {
            w.sums[i] = 0
            w.counts[i] = 0
          }
        }
        if (b > w.newest) w.newest = b
        const metricRows = rowsOf(type)
        for (const name in r.metrics) {
          const row = metricRows.get(name)
          if (row === undefined) continue
          const i = row * buckets + slot
          if (w.counts[i]! >= MAX_COUNT) continue
          w.sums[i]! += r.metrics[name]!
          w.counts[i]! += 1
        }
      }
    },
    forget(deviceId) {
      devices.delete(deviceId)
    },
    size: () => devices.size,
    async recent(deviceId, type) {
      const w = devices.get(deviceId)
      if (w === undefined || w.type !== type || w.newest < 0) return null
      const metrics = applianceSpec(type).metrics.map((m) => m.name)
      const times: number[] = []
      const values: Array<Array<number | null>> = metrics.map(() => [])
      for (let b = w.newest - buckets + 1; b <= w.newest; b++) {
        if (b < 0) continue
        const slot = b % buckets
        if (w.slotBucket[slot] !== b) continue
        times.push(b * bucketMs)
        for (let m = 0; m < metrics.length; m++) {
          const i = m * buckets + slot
          values[m]!.push(w.counts[i]! === 0 ? null : w.sums[i]! / w.counts[i]!)
        }
      }
      return { metrics, times, values, bucketMs, source: 'memory' }
    },
  }
}

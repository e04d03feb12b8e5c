/**
 * The generic detector for telemetry of unknown meaning (`forewarn replay`): every metric is
 * compared with a robust rolling baseline (median / MAD of the recent past), the anomaly score
 * is the largest robust deviation squashed into [0, 1), and a warning starts when the score
 * crosses one half — then stays quiet for a refractory period so one event is one warning.
 * Pure and streaming: state per device, time only from the caller.
 */
import { median, medianAbsoluteDeviation, sampleStandardDeviation } from 'simple-statistics'

export interface GenericConfig {
  /** Rows per device before any warning (the baseline is learnt meanwhile). */
  warmupRows: number
  /** Rows of recent past the baseline is taken from. */
  windowRows: number
  /** Rows after a warning during which no new one starts. */
  refractoryRows: number
  /** Robust deviation (in spreads) that maps to score 0.5. */
  halfScoreDeviation: number
}

export const defaultGenericConfig: GenericConfig = { warmupRows: 150, windowRows: 600, refractoryRows: 200, halfScoreDeviation: 8 }

export interface GenericResult {
  score: number
  /** Set on the row where a warning starts. */
  warning: { metric: number; value: number; baseline: number; deviation: number } | null
}

interface Series {
  ring: Float64Array
  head: number
  len: number
  base: number
  spread: number
  sinceFit: number
}

interface DeviceState {
  rows: number
  quietUntil: number
  series: Series[]
}

export interface GenericDetector {
  /** Scores one row; NaN values are missing metrics. */
  process(deviceId: string, values: ArrayLike<number>): GenericResult
}

export function createGenericDetector(config: Partial<GenericConfig> = {}): GenericDetector {
  const cfg = { ...defaultGenericConfig, ...config }
  const win = Math.max(10, Math.floor(cfg.windowRows))
  const refit = Math.max(1, Math.floor(win / 30))
  const devices = new Map<string, DeviceState>()
  const scratch: number[] = []

  function fit(s: Series): void {
    scratch.length = 0
    for (let i = 0; i < s.len; i++) scratch.push(s.ring[i]!)
    if (scratch.length < 3) return
    s.base = median(scratch)
    const mad = 1.4826 * medianAbsoluteDeviation(scratch)
    const sd = sampleStandardDeviation(scratch)
    // Quantised or flat signals have MAD 0: fall back to a share of the deviation, then to the scale.
    s.spread = Math.max(mad, 0.25 * sd, 1e-3 * Math.max(1, Math.abs(s.base)))
    s.sinceFit = 0
  }

  return {
    process(deviceId, values) {
      let d = devices.get(deviceId)
      if (!d) {
        d = { rows: 0, quietUntil: 0, series: [] }
        devices.set(deviceId, d)
      }
      while (d.series.length < values.length) d.series.push({ ring: new Float64Array(win), head: 0, len: 0, base: NaN, spread: NaN, sinceFit: refit })
      d.rows++
      let best = 0
      let bestMetric = -1
      for (let i = 0; i < values.length; i++) {
        const x = values[i]!
        if (!Number.isFinite(x)) continue
        const s = d.series[i]!
        if (s.sinceFit >= refit || !Number.isFinite(s.base)) fit(s)
        s.sinceFit++
        if (Number.isFinite(s.base) && s.len >= Math.min(win, 20)) {
          const z = Math.abs(x - s.base) / s.spread
          if (z > best) { best = z; bestMetric = i }
        }
        s.ring[s.head] = x
        s.head = (s.head + 1) % win
        if (s.len < win) s.len++
      }
      let score = best / (best + cfg.halfScoreDeviation)
      let warning: GenericResult['warning'] = null
      const eligible = d.rows > cfg.warmupRows && d.rows > d.quietUntil
      if (score >= 0.5 && eligible && bestMetric >= 0) {
        const s = d.series[bestMetric]!
        warning = { metric: bestMetric, value: values[bestMetric]!, baseline: s.base, deviation: best }
        d.quietUntil = d.rows + cfg.refractoryRows
      } else if (score >= 0.5) score = 0.49
      return { score, warning }
    },
  }
}

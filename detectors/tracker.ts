/**
 * One degrading feature of one device, kept in a slice of a Float64Array (no objects on the
 * hot path): a robust baseline (median / MAD of the first `WARMUP` values), a ring of recent
 * values for the level (median of the last 3, so one odd day — a door left open, the pull-down
 * after a power cut — does not move it) and the trend (least squares over the ring) that
 * gives the remaining useful life.
 */
import { linearRegression, median, medianAbsoluteDeviation } from 'simple-statistics'

export const RING = 8
/** Slots: n, baseline, spread, head, len, warm-up count, level span, then RING values and RING times (hours). */
export const TRACKER_SLOTS = 7 + 2 * RING
const N = 0, BASE = 1, SPREAD = 2, HEAD = 3, LEN = 4, WARM = 5, LEVEL = 6, VALS = 7, TIMES = 7 + RING

/**
 * Sets how many values the baseline is learnt from (3 … RING) and how many recent values the
 * level is the median of (3 for day-long windows, 5 for noisier single cycles).
 */
export function trackerInit(s: Float64Array, o: number, warmup: number, levelSpan = 3): void {
  s.fill(0, o, o + TRACKER_SLOTS)
  s[o + WARM] = Math.max(3, Math.min(RING, Math.round(warmup)))
  s[o + LEVEL] = levelSpan === 5 ? 5 : 3
}

export interface FeatureLimit {
  direction: 'up' | 'down'
  failureChange: number
  relative: boolean
}

/**
 * Forgets the baseline, level and trend (a replaced part has a new normal) and relearns from the
 * values after the next `skip` ones: the window in progress mixes the old part with the new.
 * A negative count marks the values still to skip, so the state stays one slice of numbers.
 */
export function trackerRelearn(s: Float64Array, o: number, skip = 1): void {
  const warm = s[o + WARM]!
  const level = s[o + LEVEL]!
  s.fill(0, o, o + TRACKER_SLOTS)
  s[o + WARM] = warm
  s[o + LEVEL] = level
  s[o + N] = -Math.max(0, Math.round(skip))
}

/** Adds one feature value observed at `tHours` (event time, hours). NaN values are ignored. */
export function trackerAdd(s: Float64Array, o: number, value: number, tHours: number): void {
  // A window being skipped after a relearn counts whatever its value, even none.
  if (s[o + N]! < 0) { s[o + N]! += 1; return }
  if (!Number.isFinite(value)) return
  const head = s[o + HEAD]!
  s[o + VALS + head] = value
  s[o + TIMES + head] = tHours
  s[o + HEAD] = (head + 1) % RING
  if (s[o + LEN]! < RING) s[o + LEN]! += 1
  s[o + N]! += 1
  if (s[o + N] === s[o + WARM]) {
    const vals = recent(s, o, s[o + WARM]!, VALS)
    s[o + BASE] = median(vals)
    s[o + SPREAD] = 1.4826 * medianAbsoluteDeviation(vals)
  }
}

export function trackerReady(s: Float64Array, o: number): boolean {
  return s[o + WARM]! > 0 && s[o + N]! >= s[o + WARM]!
}

export function trackerBaseline(s: Float64Array, o: number): number {
  return s[o + BASE]!
}

export function trackerCount(s: Float64Array, o: number): number {
  return s[o + N]!
}

const scratch = new Float64Array(5)
/** Median of the last 3 (or 5) values, fewer when fewer exist; allocation-free. */
export function trackerLevel(s: Float64Array, o: number): number {
  const len = Math.min(s[o + LEVEL]!, s[o + LEN]!)
  if (len === 0) return NaN
  for (let i = 0; i < len; i++) {
    const v = s[o + VALS + ((s[o + HEAD]! - 1 - i + RING) % RING)]!
    let j = i
    while (j > 0 && scratch[j - 1]! > v) { scratch[j] = scratch[j - 1]!; j-- }
    scratch[j] = v
  }
  return len % 2 === 1 ? scratch[(len - 1) / 2]! : (scratch[len / 2 - 1]! + scratch[len / 2]!) / 2
}

/** The change at failure in feature units for this device's baseline. */
export function failureSpan(s: Float64Array, o: number, lim: FeatureLimit): number {
  return lim.relative ? lim.failureChange * Math.abs(s[o + BASE]!) : lim.failureChange
}

/** Degradation progress: 0 at the baseline, 1 at the failure limit (signed by direction). */
export function trackerProgress(s: Float64Array, o: number, lim: FeatureLimit): number {
  if (!trackerReady(s, o)) return 0
  const span = failureSpan(s, o, lim)
  if (!(span > 0)) return 0
  const dev = (trackerLevel(s, o) - s[o + BASE]!) * (lim.direction === 'up' ? 1 : -1)
  return dev / span
}

/** Deviation of the level in robust spreads, floored so a very quiet baseline is not over-trusted. */
export function trackerZ(s: Float64Array, o: number, lim: FeatureLimit): number {
  if (!trackerReady(s, o)) return 0
  const span = failureSpan(s, o, lim)
  const spread = Math.max(s[o + SPREAD]!, 0.04 * span)
  const dev = (trackerLevel(s, o) - s[o + BASE]!) * (lim.direction === 'up' ? 1 : -1)
  return dev / spread
}

function recent(s: Float64Array, o: number, k: number, base: number): number[] {
  const out: number[] = []
  const len = Math.min(k, s[o + LEN]!)
  for (let i = len - 1; i >= 0; i--) out.push(s[o + base + ((s[o + HEAD]! - 1 - i + RING) % RING)]!)
  return out
}

export interface TrendFit {
  /** Progress per hour now (derivative of the fitted curve at the newest point). */
  slopePerHour: number
  /** Fitted progress at the newest point. */
  progressNow: number
  /** Hours until the fitted curve reaches the failure limit (Infinity when it does not rise). */
  hoursToLimit: number
  /** The same for the fit's slope ± 2 standard errors (fast, slow). */
  hoursFast: number
  hoursSlow: number
}

/**
 * Trend of progress over the recent ring. Wear accelerates (progress ≈ (t − onset)^k), so the
 * fit is a straight line through progress^(1/k), which reaches 1 exactly when progress does;
 * only points that have left the baseline (progress > 0.05) take part when there are 3 of them.
 * Called only when a warning is due, so allocation here is off the hot path.
 */
export function trackerTrend(s: Float64Array, o: number, lim: FeatureLimit, k = 1.6): TrendFit | null {
  const len = s[o + LEN]!
  if (len < 3 || !trackerReady(s, o)) return null
  const span = failureSpan(s, o, lim)
  const sign = lim.direction === 'up' ? 1 : -1
  const vals = recent(s, o, len, VALS)
  const times = recent(s, o, len, TIMES)
  const t0 = times[times.length - 1]!
  let pts = vals.map((v, i) => [times[i]! - t0, (sign * (v - s[o + BASE]!)) / span] as [number, number])
  const moving = pts.filter((p) => p[1] > 0.05)
  if (moving.length >= 3) pts = moving
  const lin = pts.map(([t, p]) => [t, Math.sign(p) * Math.abs(p) ** (1 / k)] as [number, number])
  const { m, b } = linearRegression(lin)
  let sse = 0
  let sxx = 0
  const mt = lin.reduce((a, p) => a + p[0], 0) / lin.length
  for (const [t, y] of lin) {
    sse += (y - (m * t + b)) ** 2
    sxx += (t - mt) ** 2
  }
  const se = lin.length > 2 && sxx > 0 ? Math.sqrt(sse / (lin.length - 2) / sxx) : Math.abs(m)
  const yNow = b
  const left = Math.max(0, 1 - yNow)
  const hours = (slope: number): number => (slope > 0 ? left / slope : Infinity)
  const progressNow = Math.sign(yNow) * Math.abs(yNow) ** k
  return {
    slopePerHour: m > 0 && yNow > 0 ? k * yNow ** (k - 1) * m : m,
    progressNow,
    hoursToLimit: hours(m),
    hoursFast: hours(m + 2 * se),
    hoursSlow: hours(m - 2 * se),
  }
}

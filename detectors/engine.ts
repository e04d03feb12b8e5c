/**
 * The detection engine for any machine: streaming, per device, pure (time comes from the caller).
 *
 * 0. Operating modes (./modes.ts, in front of all that follows): a device whose first rows fall
 *    into a few distinct operating conditions is judged, row by row, against the condition the row
 *    was taken in; any other device is passed through unchanged.
 * 1. Warm-up: the device's own healthy baseline is learnt (mean and covariance of every metric,
 *    streaming), then **frozen**, so slow wear stands out instead of being followed.
 *    A reference model (a type's normal, learnt across healthy machines) can stand in until then.
 * 2. Watching: each row is standardised against the frozen baseline and two distances are taken
 *    on a shrunk correlation (Mahalanobis, so sensors that stop moving together count):
 *    - fast: the row itself, for abrupt shifts;
 *    - slow: a multivariate EWMA of the rows, for drifts too small to see row by row.
 *    Each is divided by its own threshold, calibrated out of sample in the second half of the
 *    warm-up (fitted on the first half, the worst value seen there times a margin).
 * 3. A warning starts when either ratio reaches 1, and ends after `clearRows` calm rows. The
 *    health index is the slow ratio (1 = warning level).
 * 4. Re-baselining happens only on named events: `reset` (a repair), or a long stable period
 *    after a warning (`rebaselineRows` rows in which the health index sets no new high: a new
 *    level, not wear that keeps growing).
 * 5. Remaining life: with a failure model (learnt from machines run to failure, engine-fleet.ts)
 *    from the fleet's own failures; without one, by extrapolating the health index's recent
 *    trend to `failureLevel`, with the slope's ±2 standard errors as the interval.
 */
import { invertSpd, quadratic } from './linalg.ts'
import { withOperatingModes, type Modes } from './modes.ts'

export interface EngineConfig {
  /** Rows of the device's own normal before the baseline freezes. */
  warmupRows: number
  /** EWMA weight of the newest row in the slow (drift) statistic. */
  ewmaWeight: number
  /** The shift statistic compares a fast EWMA (this weight) with a slowly following level (next). */
  shiftWeight: number
  levelWeight: number
  /** Thresholds = margin × the worst value seen while calibrating, for each statistic. */
  shiftMargin: number
  driftMargin: number
  /**
   * A single-metric series is thresholded on a tail fitted to its calibration values (peaks over
   * threshold, exponential tail) rather than on their single worst value: on a spiky metric the
   * warm-up's worst row is a spike, and margin × spike hid most anomalies of single-metric
   * benchmark series (docs/detection.md, NAB). Threshold = this margin × the level that normal
   * rows exceed with probability `tailRisk` each.
   */
  singleMetricMargin: number
  tailRisk: number
  /** Calm rows (both ratios below `clearRatio`) before a warning ends. */
  clearRows: number
  clearRatio: number
  /** Rows without a new high of the health index after a warning before the baseline is relearnt. */
  rebaselineRows: number
  /** Health index at which the machine counts as failed when no failure model is given. */
  failureLevel: number
  /** Also judge each metric alone against its own calibrated limit (a one-metric fault is not diluted by the others). */
  perMetric: boolean
  /** Smallest calibrated squared deviation a per-metric limit is built on. */
  perMetricFloor: number
  /** Rows between samples of the health index kept for the trend. */
  trendEveryRows: number
}

export const defaultEngineConfig: EngineConfig = {
  warmupRows: 150,
  ewmaWeight: 0.1,
  shiftWeight: 0.2,
  levelWeight: 0.1,
  shiftMargin: 8,
  driftMargin: 8,
  singleMetricMargin: 1.5,
  tailRisk: 1e-6,
  clearRows: 60,
  clearRatio: 0.5,
  rebaselineRows: 600,
  failureLevel: 4,
  trendEveryRows: 5,
  perMetric: true,
  perMetricFloor: 16,
}

/** A frozen baseline: what normal looks like for one device or one machine type. */
export interface BaselineModel extends PackedFitted {
  d: number
  /** Rows it was learnt from. */
  rows: number
  /** Operating modes it was learnt with (./modes.ts): its mean and spreads are of rows' differences from their mode. */
  modes?: Modes
}

/** What a failure model tells from a device's smoothed deviation: remaining life and interval, in ms. */
export interface FailureEstimator {
  readonly d: number
  /**
   * Optional: one number per device that the estimate also reads (the failure model's smoothed
   * health index, for its rate), folded from its previous value (NaN at first) and this row.
   */
  track?(previous: number, deviation: ArrayLike<number>): number
  estimate(deviation: ArrayLike<number>, tracked?: number): { lifeMs: number; lowMs: number; highMs: number; index: number } | null
}

export interface Moved {
  metric: number
  value: number
  baseline: number
  /** Smoothed deviation in baseline spreads (signed). */
  spreads: number
}

export interface EngineResult {
  /** max(fast, slow) ratio squashed into [0, 1): 0.5 at the threshold; ≥ 0.5 only where a warning starts. */
  score: number
  /** The slow ratio: 1 at the warning level. NaN while learning without a reference. */
  health: number
  warning: { episode: number; moved: Moved[]; cause: 'shift' | 'drift' } | null
  /** Set on the row a warning ends (calm, re-baseline or reset). */
  cleared: boolean
  /**
   * The smoothed deviation from the frozen baseline, per metric, in its spreads (what a failure
   * model reads). A view valid until the next call; null while there is no baseline.
   */
  deviation: Float64Array | null
  remainingLife: { lifeMs: number; lowMs: number; highMs: number } | null
}

interface Learner {
  n: number
  mean: Float64Array
  comoment: Float64Array
}

const EMPTY = new Float64Array(0)

/** A statistic's noise model: per-metric spread and the precision of the shrunk correlation. */
interface Noise {
  scale: Float64Array
  /** Single precision: a distance needs no more, and it halves the largest part of the state. */
  precision: Float32Array
  /** Variance per row by which a metric that wandered during the warm-up may keep wandering (drift only). */
  wander: Float64Array
  /** Per metric: the squared deviation that is a warning by that metric alone. */
  limit: Float64Array
}

interface Fitted {
  mean: Float64Array
  shift: Noise
  drift: Noise
  shiftThreshold: number
  driftThreshold: number
}

interface DeviceState {
  d: number
  /** Rows since the device was added or its baseline was last relearnt. */
  rows: number
  learner: Learner
  /** The smoothed vectors' own moments in the warm-up: their autocorrelation is what sets their spread. */
  shiftLearner: Learner
  driftLearner: Learner
  /** Fitted on the first half of the warm-up, to calibrate thresholds on the second half. */
  probe: Fitted | null
  calShift: number
  calDrift: number
  /** Per metric, the largest squared deviation seen while calibrating. */
  calShiftM: Float64Array
  calDriftM: Float64Array
  /** A single metric's calibration values, for the tail fit (empty otherwise, and once frozen). */
  calShiftAll: number[]
  calDriftAll: number[]
  model: Fitted | null
  /** EWMAs in the metrics' own units: drift, fast, level (see `stats`). */
  ewma: Float64Array
  fast: Float64Array
  level: Float64Array
  episodes: number
  active: boolean
  calmRows: number
  /** Rows since the health index last set a new high during or after a warning (−1: no warning). */
  sinceHigh: number
  highest: number
  /** Health-index trend samples (time ms, index), a ring. */
  trendT: Float64Array
  trendH: Float64Array
  trendLen: number
  trendHead: number
  /** What the failure model tracks for this device (`FailureEstimator.track`); NaN before any. */
  tracked: number
}

const TREND_POINTS = 16

/**
 * Peaks over threshold with an exponential tail (a generalised Pareto tail of shape 0, which a
 * squared Gaussian deviation has): the top 10 % of the values (at least 3) fit the tail above the
 * next one, u, with mean excess β; the level exceeded with probability q per value is then
 * u + β·ln(k / (n·q)). Fewer than 4 values: the largest.
 */
export function tailLevel(values: number[], q: number): number {
  const v = [...values].sort((a, b) => b - a)
  const n = v.length
  if (n < 4) return v[0] ?? 0
  const k = Math.max(3, Math.ceil(0.1 * n))
  const u = v[Math.min(k, n - 1)]!
  let excess = 0
  for (let i = 0; i < k; i++) excess += v[i]! - u
  return u + (excess / k) * Math.log(k / (n * q))
}

export interface Engine {
  readonly config: EngineConfig
  /** Scores one row of a device (NaN = metric missing). `timeMs` is the row's event time. */
  process(deviceId: string, values: ArrayLike<number>, timeMs: number): EngineResult
  /** Repair: the baseline is relearnt from the next rows; an open warning ends. */
  reset(deviceId: string): void
  snapshot(deviceId: string): string | undefined
  restore(deviceId: string, snapshot: string): void
  /** The device's frozen baseline, once learnt. */
  baseline(deviceId: string): BaselineModel | undefined
}

export interface EngineOptions {
  /** A type's normal: devices are watched from their first row; their own baseline replaces it once learnt. */
  reference?: BaselineModel
  failure?: FailureEstimator
  /** Look for distinct operating modes in a device's first rows (./modes.ts); default true. */
  modes?: boolean
}

function newLearner(d: number): Learner {
  return { n: 0, mean: new Float64Array(d), comoment: new Float64Array(d * d) }
}

function learn(l: Learner, x: ArrayLike<number>, d: number, delta: Float64Array): void {
  l.n++
  for (let i = 0; i < d; i++) {
    const v = x[i]!
    delta[i] = Number.isFinite(v) ? v - l.mean[i]! : 0
    l.mean[i]! += delta[i]! / l.n
  }
  // Welford's co-moment: (x − new mean)(x − old mean)ᵀ.
  for (let i = 0; i < d; i++) {
    const after = Number.isFinite(x[i]!) ? x[i]! - l.mean[i]! : 0
    for (let j = 0; j < d; j++) l.comoment[i * d + j]! += after * delta[j]!
  }
}

/** Spreads and the precision of the correlation shrunk toward the identity, from second moments about `center`. */
function noise(l: Learner, d: number, center: Float64Array | null, floor: Float64Array): Noise {
  const n = Math.max(2, l.n)
  const cov = (i: number, j: number): number => {
    const ci = center ? l.mean[i]! - center[i]! : l.mean[i]!
    const cj = center ? l.mean[j]! - center[j]! : l.mean[j]!
    return l.comoment[i * d + j]! / (n - 1) + ci * cj
  }
  const scale = new Float64Array(d)
  for (let i = 0; i < d; i++) scale[i] = Math.max(Math.sqrt(Math.max(0, cov(i, i))), floor[i]!)
  // Shrinkage grows with dimensions per row learnt (Ledoit–Wolf in spirit): few rows, more identity.
  const shrink = Math.min(0.9, Math.max(1e-4, d / n))
  const corr = new Float64Array(d * d)
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) corr[i * d + j] = i === j ? 1 : (1 - shrink) * Math.max(-1, Math.min(1, cov(i, j) / (scale[i]! * scale[j]!)))
  }
  let precision = invertSpd(corr, d)
  if (!precision) {
    precision = new Float64Array(d * d)
    for (let i = 0; i < d; i++) precision[i * d + i] = 1
  }
  return { scale, precision: Float32Array.from(precision), wander: EMPTY, limit: new Float64Array(d).fill(Number.POSITIVE_INFINITY) }
}

/** Frozen baseline from the warm-up's learners. */
function fit(s: { learner: Learner; shiftLearner: Learner; driftLearner: Learner }, d: number, driftVar: number, shiftVar: number): Fitted {
  const l = s.learner
  const n = Math.max(2, l.n)
  const spread = new Float64Array(d)
  for (let i = 0; i < d; i++) {
    const sd = Math.sqrt(Math.max(0, l.comoment[i * d + i]! / (n - 1)))
    // A metric flat during warm-up still gets a spread: a share of its level, or a tiny absolute one.
    spread[i] = Math.max(sd, 1e-3 * Math.abs(l.mean[i]!), 1e-6)
  }
  // A smoothed statistic is never credited with less noise than independent rows would give it.
  const floorOf = (v: number): Float64Array => spread.map((x) => x * Math.sqrt(v))
  const drift = noise(s.driftLearner, d, l.mean, floorOf(driftVar))
  // A random walk's variance about its own mean over n rows is q·n/6: what the smoothed metric
  // varied beyond its row noise is taken as such a walk, which goes on after the warm-up.
  drift.wander = new Float64Array(d)
  for (let i = 0; i < d; i++) drift.wander[i] = Math.max(0, drift.scale[i]! ** 2 - spread[i]! ** 2 * driftVar) * 6 / n
  return {
    mean: Float64Array.from(l.mean),
    shift: noise(s.shiftLearner, d, null, floorOf(shiftVar)),
    drift,
    shiftThreshold: NaN, driftThreshold: NaN,
  }
}

/**
 * The engine, with operating modes in front (./modes.ts) unless a reference is given or
 * `options.modes` is false: a device whose first rows show no distinct operating conditions gets
 * exactly the frozen-baseline engine below.
 */
export function createEngine(config: Partial<EngineConfig> = {}, options: EngineOptions = {}): Engine {
  const engine = createFrozenEngine(config, options)
  const hold = Math.max(10, Math.floor(engine.config.warmupRows))
  // A reference learnt with operating modes brings them: each device is judged per mode from its first row.
  if (options.reference?.modes && options.modes !== false) return withOperatingModes(engine, hold, options.reference.modes)
  return options.reference || options.modes === false ? engine : withOperatingModes(engine, hold)
}

function createFrozenEngine(config: Partial<EngineConfig>, options: EngineOptions): Engine {
  const cfg: EngineConfig = { ...defaultEngineConfig, ...config }
  const warmup = Math.max(10, Math.floor(cfg.warmupRows))
  const calStart = Math.floor(warmup / 2)
  // Rows before the smoothed vectors are learnt from (the fast EWMA settles).
  const settle = Math.min(Math.floor(warmup / 4), Math.ceil(2 / cfg.shiftWeight))
  const lambda = cfg.ewmaWeight
  const lf = cfg.shiftWeight
  const ls = cfg.levelWeight
  // Variances relative to one row's, for independent rows: the drift EWMA, and fast − level.
  const driftVar = lambda / (2 - lambda)
  const shiftVar = lf / (2 - lf) + ls / (2 - ls) - 2 * lf * ls / (lf + ls - lf * ls)
  const devices = new Map<string, DeviceState>()
  const reference = options.reference ? fromModel(options.reference) : null
  const failure = options.failure
  let delta = new Float64Array(0)
  let zDrift = new Float64Array(0)
  let zShift = new Float64Array(0)

  function newDevice(d: number): DeviceState {
    return {
      d, rows: 0, learner: newLearner(d), shiftLearner: newLearner(d), driftLearner: newLearner(d), probe: null, calShift: 0, calDrift: 0, calShiftM: new Float64Array(d), calDriftM: new Float64Array(d), calShiftAll: [], calDriftAll: [], model: null,
      ewma: new Float64Array(d), fast: new Float64Array(d), level: new Float64Array(d), episodes: 0, active: false, calmRows: 0,
      sinceHigh: -1, highest: 0, trendT: new Float64Array(TREND_POINTS), trendH: new Float64Array(TREND_POINTS), trendLen: 0, trendHead: 0, tracked: NaN,
    }
  }

  /** Folds a row into the EWMAs (in the metrics' units; the first row seeds them). */
  function smooth(s: DeviceState, x: ArrayLike<number>): void {
    for (let i = 0; i < s.d; i++) {
      const v = x[i]!
      if (!Number.isFinite(v)) continue
      // Early on each EWMA is the running mean (weight 1/n), so it starts settled.
      const w = 1 / s.rows
      s.ewma[i]! += Math.max(w, lambda) * (v - s.ewma[i]!)
      s.fast[i]! += Math.max(w, lf) * (v - s.fast[i]!)
      s.level[i]! += Math.max(w, ls) * (v - s.level[i]!)
    }
  }

  /**
   * Shift and drift statistics per dimension against a baseline. Drift: the EWMA's distance from
   * the frozen mean. Shift: a fast EWMA's distance from a slowly following level, so a step stands
   * out while a slow wander does not.
   */
  function stats(m: Fitted, s: DeviceState): [number, number] {
    const d = s.d
    // Rows since the middle of the warm-up: how long a wandering metric has had to wander.
    const age = Math.max(0, s.rows - s.learner.n / 2)
    for (let i = 0; i < d; i++) {
      zDrift[i] = (s.ewma[i]! - m.mean[i]!) / Math.sqrt(m.drift.scale[i]! ** 2 + m.drift.wander[i]! * age)
      zShift[i] = (s.fast[i]! - s.level[i]!) / m.shift.scale[i]!
    }
    return [quadratic(m.shift.precision, zShift, d) / d, quadratic(m.drift.precision, zDrift, d) / d]
  }

  function relearn(s: DeviceState): void {
    s.rows = 0
    s.learner = newLearner(s.d)
    s.shiftLearner = newLearner(s.d)
    s.driftLearner = newLearner(s.d)
    s.probe = null
    s.calShift = 0
    s.calDrift = 0
    s.calShiftM = new Float64Array(s.d)
    s.calDriftM = new Float64Array(s.d)
    s.calShiftAll = []
    s.calDriftAll = []
    s.model = null
    s.trendLen = 0
    s.trendHead = 0
    s.tracked = NaN
  }

  function warmupStep(s: DeviceState, x: ArrayLike<number>): void {
    learn(s.learner, x, s.d, delta)
    const n = s.learner.n
    if (n > settle) {
      for (let i = 0; i < s.d; i++) { zShift[i] = s.fast[i]! - s.level[i]!; zDrift[i] = s.ewma[i]! }
      learn(s.shiftLearner, zShift, s.d, delta)
      learn(s.driftLearner, zDrift, s.d, delta)
    }
    if (n === calStart) s.probe = fit(s, s.d, driftVar, shiftVar)
    else if (s.probe && n > calStart) {
      const [sh, dr] = stats(s.probe, s)
      if (s.d === 1) { s.calShiftAll.push(sh); s.calDriftAll.push(dr) }
      if (sh > s.calShift) s.calShift = sh
      if (dr > s.calDrift) s.calDrift = dr
      for (let i = 0; i < s.d; i++) {
        s.calShiftM[i] = Math.max(s.calShiftM[i]!, zShift[i]! ** 2)
        s.calDriftM[i] = Math.max(s.calDriftM[i]!, zDrift[i]! ** 2)
      }
    }
    if (n >= warmup) {
      const m = fit(s, s.d, driftVar, shiftVar)
      if (s.d === 1) {
        // One metric: the statistic is the metric's own squared deviation, so the joint threshold is its limit.
        m.shiftThreshold = Math.max(cfg.singleMetricMargin * tailLevel(s.calShiftAll, cfg.tailRisk), 2)
        m.driftThreshold = Math.max(cfg.singleMetricMargin * tailLevel(s.calDriftAll, cfg.tailRisk), 2)
      } else {
        m.shiftThreshold = Math.max(cfg.shiftMargin * s.calShift, 2)
        m.driftThreshold = Math.max(cfg.driftMargin * s.calDrift, 2)
        if (cfg.perMetric) {
          for (let i = 0; i < s.d; i++) {
            m.shift.limit[i] = cfg.shiftMargin * Math.max(s.calShiftM[i]!, cfg.perMetricFloor)
            m.drift.limit[i] = cfg.driftMargin * Math.max(s.calDriftM[i]!, cfg.perMetricFloor)
          }
        }
      }
      s.model = m
      s.probe = null
      // Frozen: what only the warm-up needed is let go (a watched device's state stays small).
      s.learner = { n: s.learner.n, mean: EMPTY, comoment: EMPTY }
      s.shiftLearner = s.driftLearner = s.learner
      s.calShiftM = s.calDriftM = EMPTY
      s.calShiftAll = []
      s.calDriftAll = []
    }
  }

  function trendAdd(s: DeviceState, t: number, h: number): void {
    s.trendT[s.trendHead] = t
    s.trendH[s.trendHead] = h
    s.trendHead = (s.trendHead + 1) % TREND_POINTS
    if (s.trendLen < TREND_POINTS) s.trendLen++
  }

  /** Least squares of the health index on time, extrapolated to the failure level. */
  function trendLife(s: DeviceState, h: number): EngineResult['remainingLife'] {
    if (h >= cfg.failureLevel) return { lifeMs: 0, lowMs: 0, highMs: 0 }
    const n = s.trendLen
    if (n < 6) return null
    let mt = 0, mh = 0
    for (let i = 0; i < n; i++) { mt += s.trendT[i]!; mh += s.trendH[i]! }
    mt /= n
    mh /= n
    let stt = 0, sth = 0
    for (let i = 0; i < n; i++) { stt += (s.trendT[i]! - mt) ** 2; sth += (s.trendT[i]! - mt) * (s.trendH[i]! - mh) }
    if (stt <= 0) return null
    const slope = sth / stt
    let sse = 0
    for (let i = 0; i < n; i++) sse += (s.trendH[i]! - (mh + slope * (s.trendT[i]! - mt))) ** 2
    const se = Math.sqrt(sse / Math.max(1, n - 2) / stt)
    if (!(slope > 2 * se)) return null
    const gap = cfg.failureLevel - h
    const slow = slope - 2 * se
    return { lifeMs: gap / slope, lowMs: gap / (slope + 2 * se), highMs: slow > 0 ? gap / slow : Number.POSITIVE_INFINITY }
  }

  /** The metrics that explain an alarm: the furthest out, and up to two more at least half as far. */
  function moved(m: Fitted, x: ArrayLike<number>, z: Float64Array, d: number): Moved[] {
    const all: Moved[] = []
    for (let i = 0; i < d; i++) all.push({ metric: i, value: x[i]!, baseline: m.mean[i]!, spreads: z[i]! })
    all.sort((a, b) => Math.abs(b.spreads) - Math.abs(a.spreads))
    const top = Math.abs(all[0]!.spreads)
    return all.filter((o, k) => k === 0 || (k < 3 && Math.abs(o.spreads) >= 0.5 * top))
  }

  return {
    config: cfg,
    process(deviceId, values, timeMs) {
      const d = values.length
      let s = devices.get(deviceId)
      if (!s || s.d !== d) {
        s = newDevice(d)
        devices.set(deviceId, s)
      }
      if (delta.length < d) { delta = new Float64Array(d); zDrift = new Float64Array(d); zShift = new Float64Array(d) }
      s.rows++
      smooth(s, values)
      let handover = false
      if (!s.model) {
        warmupStep(s, values)
        // The device's own baseline replaces the reference: what was judged against the reference ends.
        handover = s.model !== null && reference !== null && s.active
        if (handover) { s.active = false; s.sinceHigh = -1 }
      }
      const learning = !s.model
      const m = s.model ?? (reference && reference.mean.length === d ? reference : null)
      // Against a reference, the first rows wait for the EWMAs to settle (they start as the running mean).
      if (!m || (learning && s.rows <= Math.ceil(2 / lambda))) return { score: 0, health: NaN, warning: null, cleared: false, remainingLife: null, deviation: null }
      const [sh, dr] = stats(m, s)
      let shiftRatio = sh / m.shiftThreshold
      let health = dr / m.driftThreshold
      for (let i = 0; i < d; i++) {
        shiftRatio = Math.max(shiftRatio, zShift[i]! ** 2 / m.shift.limit[i]!)
        health = Math.max(health, zDrift[i]! ** 2 / m.drift.limit[i]!)
      }
      const ratio = Math.max(shiftRatio, health)
      let score = ratio / (1 + ratio)
      let warning: EngineResult['warning'] = null
      let cleared = handover
      if (s.rows % cfg.trendEveryRows === 0) trendAdd(s, timeMs, health)
      if (!s.active && ratio >= 1) {
        s.active = true
        s.episodes++
        s.calmRows = 0
        s.sinceHigh = 0
        s.highest = health
        const byShift = shiftRatio >= health
        warning = { episode: s.episodes, moved: moved(m, values, byShift ? zShift : zDrift, d), cause: byShift ? 'shift' : 'drift' }
      } else {
        if (score >= 0.5) score = 0.4999
        if (s.active) {
          s.calmRows = ratio < cfg.clearRatio ? s.calmRows + 1 : 0
          if (s.calmRows >= cfg.clearRows) { s.active = false; cleared = true }
        }
        if (s.sinceHigh >= 0 && !learning) {
          if (health > 1.1 * s.highest) { s.highest = health; s.sinceHigh = 0 } else s.sinceHigh++
          if (s.sinceHigh >= cfg.rebaselineRows) {
            cleared = s.active
            s.active = false
            s.sinceHigh = -1
            relearn(s)
          }
        }
      }
      let remainingLife: EngineResult['remainingLife'] = null
      if (failure && failure.d === d) {
        if (failure.track) s.tracked = failure.track(s.tracked, zDrift)
        const e = failure.estimate(zDrift, s.tracked)
        if (e) remainingLife = { lifeMs: e.lifeMs, lowMs: e.lowMs, highMs: e.highMs }
      } else if (s.active || health >= 1) remainingLife = trendLife(s, health)
      return { score, health, warning, cleared, remainingLife, deviation: zDrift }
    },
    reset(deviceId) {
      const s = devices.get(deviceId)
      if (!s) return
      s.active = false
      s.sinceHigh = -1
      relearn(s)
    },
    snapshot(deviceId) {
      const s = devices.get(deviceId)
      if (!s) return undefined
      const learner = (l: Learner): PackedLearner => ({ n: l.n, mean: [...l.mean], comoment: [...l.comoment] })
      const snap: SnapshotV1 = {
        v: 1, d: s.d, rows: s.rows, episodes: s.episodes, active: s.active, calmRows: s.calmRows, sinceHigh: s.sinceHigh, highest: s.highest,
        learner: learner(s.learner), shiftLearner: learner(s.shiftLearner), driftLearner: learner(s.driftLearner),
        probe: s.probe ? pack(s.probe) : null, calShift: s.calShift, calDrift: s.calDrift, calShiftM: [...s.calShiftM], calDriftM: [...s.calDriftM], calShiftAll: [...s.calShiftAll], calDriftAll: [...s.calDriftAll],
        model: s.model ? pack(s.model) : null, ewma: [...s.ewma], fast: [...s.fast], level: [...s.level],
        trend: { t: [...s.trendT], h: [...s.trendH], len: s.trendLen, head: s.trendHead },
        tracked: Number.isFinite(s.tracked) ? s.tracked : null,
      }
      return JSON.stringify(snap)
    },
    restore(deviceId, snapshot) {
      const o = JSON.parse(snapshot) as SnapshotV1
      if (o.v !== 1) throw new Error(`unknown engine snapshot version ${String(o.v)}`)
      const learner = (l: PackedLearner): Learner => ({ n: l.n, mean: Float64Array.from(l.mean), comoment: Float64Array.from(l.comoment) })
      const s = newDevice(o.d)
      Object.assign(s, {
        rows: o.rows, episodes: o.episodes, active: o.active, calmRows: o.calmRows, sinceHigh: o.sinceHigh, highest: o.highest,
        learner: learner(o.learner), shiftLearner: learner(o.shiftLearner), driftLearner: learner(o.driftLearner),
        probe: o.probe ? fromModel(o.probe) : null, calShift: o.calShift, calDrift: o.calDrift,
        calShiftM: Float64Array.from(o.calShiftM), calDriftM: Float64Array.from(o.calDriftM), calShiftAll: o.calShiftAll ?? [], calDriftAll: o.calDriftAll ?? [], model: o.model ? fromModel(o.model) : null,
        ewma: Float64Array.from(o.ewma), fast: Float64Array.from(o.fast), level: Float64Array.from(o.level),
        trendT: Float64Array.from(o.trend.t), trendH: Float64Array.from(o.trend.h), trendLen: o.trend.len, trendHead: o.trend.head,
        tracked: o.tracked ?? NaN,
      })
      devices.set(deviceId, s)
    },
    baseline(deviceId) {
      const s = devices.get(deviceId)
      if (!s?.model) return undefined
      return { d: s.d, rows: s.learner.n, ...pack(s.model) }
    },
  }
}

export interface PackedNoise { scale: number[]; precision: number[]; wander: number[]; limit: number[] }
export interface PackedFitted { mean: number[]; shift: PackedNoise; drift: PackedNoise; shiftThreshold: number; driftThreshold: number }

interface PackedLearner { n: number; mean: number[]; comoment: number[] }

interface SnapshotV1 {
  v: number
  d: number
  rows: number
  episodes: number
  active: boolean
  calmRows: number
  sinceHigh: number
  highest: number
  learner: PackedLearner
  shiftLearner: PackedLearner
  driftLearner: PackedLearner
  probe: PackedFitted | null
  calShift: number
  calDrift: number
  calShiftM: number[]
  calDriftM: number[]
  /** Absent in snapshots taken before the single-metric tail fit. */
  calShiftAll?: number[]
  calDriftAll?: number[]
  model: PackedFitted | null
  ewma: number[]
  fast: number[]
  level: number[]
  trend: { t: number[]; h: number[]; len: number; head: number }
  /** Absent in snapshots taken before failure models tracked a value per device. */
  tracked?: number | null
}

function pack(m: Fitted): PackedFitted {
  const n = (x: Noise): PackedNoise => ({ scale: [...x.scale], precision: [...x.precision], wander: [...x.wander], limit: [...x.limit] })
  return { mean: [...m.mean], shift: n(m.shift), drift: n(m.drift), shiftThreshold: m.shiftThreshold, driftThreshold: m.driftThreshold }
}

function fromModel(p: PackedFitted): Fitted {
  const n = (x: PackedNoise): Noise => ({ scale: Float64Array.from(x.scale), precision: Float32Array.from(x.precision), wander: Float64Array.from(x.wander), limit: Float64Array.from(x.limit) })
  return { mean: Float64Array.from(p.mean), shift: n(p.shift), drift: n(p.drift), shiftThreshold: p.shiftThreshold, driftThreshold: p.driftThreshold }
}

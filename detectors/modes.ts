/**
 * Operating modes: a machine that runs in a few discrete operating conditions (a turbofan at six
 * altitude / Mach / throttle settings, a pump at two speeds) moves every sensor far more between
 * conditions than wear moves it within one. A frozen baseline over the mixture has a spread set by
 * the conditions, and wear never stands out (measured: `scripts/experiments/cmapss-modes.ts`).
 *
 * So, before the engine sees a device's rows: its first rows (up to `MODE_ROWS`) are held, and
 * if they form a few well-separated clusters, each row from then on is compared with the centre
 * of its nearest cluster, and the engine is given the difference (plus the overall mean, so the
 * numbers stay in the metrics' range and units). A device whose first rows form no such clusters
 * (the usual case: one operating condition, or conditions that vary continuously) is passed
 * through unchanged, so its results are exactly those of the engine alone.
 *
 * Clusters are accepted only when they are unmistakable (and of the numbers of clusters that are,
 * the one whose closest pair stands furthest apart): every pair of centres at least
 * `MIN_SEPARATION` pooled within-cluster spreads apart, and the clusters explaining at least
 * `MIN_EXPLAINED` of the variance. Noise split by k-means gives about 2–3 spreads; distinct
 * operating conditions give tens. One metric alone is never split (a single series' level
 * changes are what a single-metric detector is there to see).
 *
 * Conditions may differ in noise (a turbofan at altitude is not as steady as at sea level). Each
 * mode's differences are multiplied by the pooled spread over the mode's own, one factor per mode
 * shrunk toward 1 by empirical Bayes (`modeGains`), so a noisy condition does not set the frozen
 * baseline's spread for all and hide wear in the quiet ones. `cmapss-modes.ts` seeds 1 – 3
 * (development): timely 0.91 / 0.96 / 0.94 → 0.92 / 0.95 / 0.93, median cycles left 78 / 77 / 78 →
 * 80 / 78 / 81; seeds 4 – 6 (held out): 0.94 / 0.91 / 0.89 → 0.96 / 0.92 / 0.91 (docs/detection.md).
 *
 * A condition the first rows never showed: a row farther from every centre than its noise puts
 * it by more than MIN_SEPARATION spreads is held back, unjudged, while no warning is open. Once
 * `NEW_MODE_ROWS` such rows wait, they become a new mode (up to MAX_MODES) if they sit together
 * (each near the mean of the others) and the machine visited its known modes meanwhile; otherwise
 * they are judged against their nearest modes, so a fault that moves every row away (nothing near
 * between) or far rows that never sit together warn, at most NEW_MODE_ROWS − 1 rows late. A new
 * mode's rows are weighed by the pooled spread (gain 1). `cmapss-modes.ts` with one condition
 * per engine withheld from its warm-up: early warnings 0.90 – 0.91 → 0.04 – 0.06 (seeds 1 – 6);
 * without one withheld, timely 0.94 – 0.97 on seeds 1 – 6 (0.91 – 0.96 with per-mode noise alone).
 * What it cannot tell apart: a fault that comes and goes, always to the same far place, while the
 * machine keeps visiting its known modes, is taken for a new condition.
 *
 * A reference (`learnReference`) is learnt with modes when its first rows show them, and carries
 * them: a device given it starts with them (`preset`) and is judged per mode from its first row.
 *
 * Not yet: the reference with modes is unit-tested, not measured on the six-condition engines.
 */
import type { Engine, EngineResult } from './engine.ts'

/** First rows held to find operating modes (at most the engine's warm-up). */
export const MODE_ROWS = 64
/** Largest number of operating modes looked for. */
export const MAX_MODES = 8
/** Smallest distance between two mode centres, in pooled within-mode spreads (diagonal Mahalanobis). */
export const MIN_SEPARATION = 10
/** Smallest share of the variance of the first rows the modes must explain. */
export const MIN_EXPLAINED = 0.9
/**
 * Rows far from every mode (beyond their noise by more than MIN_SEPARATION spreads) held back,
 * unjudged, before they either become a new mode or are judged against their nearest modes.
 */
export const NEW_MODE_ROWS = 8

export interface Modes {
  /** Per mode, its centre in the metrics' units. */
  centres: number[][]
  /** Per metric, the pooled within-mode variance (what nearest-mode distance is scaled by). */
  within: number[]
  /** Per metric, the mean of the first rows: added back to every residual. */
  mean: number[]
  /**
   * Per mode, what a row's difference from its centre is multiplied by: the pooled spread over the
   * mode's own, shrunk (`modeGains`). Absent in modes fitted before spreads differed per mode: 1.
   */
  gain?: number[]
}

/**
 * Operating modes of `rows` (n × d, NaN = missing), or null when they form no unmistakable
 * clusters. Deterministic: farthest-point seeding from the first row, then Lloyd iterations.
 */
export function fitModes(rows: readonly ArrayLike<number>[], d: number): Modes | null {
  const n = rows.length
  if (d < 2 || n < 4) return null
  const mean = new Array<number>(d).fill(0)
  const count = new Array<number>(d).fill(0)
  for (const r of rows) for (let j = 0; j < d; j++) if (Number.isFinite(r[j]!)) { mean[j]! += r[j]!; count[j]!++ }
  for (let j = 0; j < d; j++) mean[j] = count[j]! > 0 ? mean[j]! / count[j]! : 0
  const sd = new Array<number>(d).fill(0)
  for (const r of rows) for (let j = 0; j < d; j++) if (Number.isFinite(r[j]!)) sd[j]! += (r[j]! - mean[j]!) ** 2
  // Standardised copies; a missing value sits at the mean, a constant metric contributes nothing.
  const varying: number[] = []
  for (let j = 0; j < d; j++) {
    sd[j] = Math.sqrt(sd[j]! / Math.max(1, count[j]! - 1))
    if (sd[j]! > 1e-12) varying.push(j)
  }
  if (varying.length === 0) return null
  const z = rows.map((r) => varying.map((j) => (Number.isFinite(r[j]!) ? (r[j]! - mean[j]!) / sd[j]! : 0)))
  const dv = varying.length
  let total = 0
  for (const r of z) for (const v of r) total += v * v
  if (total <= 0) return null

  // Of the k that pass, the one whose modes stand furthest apart: fewer modes than conditions
  // merge two into one wide mode, more split one, and either brings the closest pair nearer.
  let best: { closest: number; centres: number[][]; pooled: number[]; of: number[] } | null = null
  for (let k = 2; k <= Math.min(MAX_MODES, Math.floor(n / 2)); k++) {
    const { centres, of } = kmeans(z, k, dv)
    const sizes = new Array<number>(k).fill(0)
    for (const c of of) sizes[c]!++
    if (sizes.some((s) => s === 0)) continue
    const within = new Array<number>(dv).fill(0)
    for (let i = 0; i < n; i++) for (let j = 0; j < dv; j++) within[j]! += (z[i]![j]! - centres[of[i]!]![j]!) ** 2
    const wss = within.reduce((a, b) => a + b, 0)
    if (1 - wss / total < MIN_EXPLAINED) continue
    // Pooled within-mode variance per metric, floored so an exactly repeated condition still has one.
    const pooled = within.map((w) => Math.max(w / Math.max(1, n - k), 1e-4))
    let closest = Number.POSITIVE_INFINITY
    for (let a = 0; a < k; a++) {
      for (let b = a + 1; b < k; b++) {
        let q = 0
        for (let j = 0; j < dv; j++) q += (centres[a]![j]! - centres[b]![j]!) ** 2 / pooled[j]!
        closest = Math.min(closest, Math.sqrt(q))
      }
    }
    if (closest < MIN_SEPARATION || (best !== null && closest <= best.closest)) continue
    best = { closest, centres, pooled, of }
  }
  if (best === null) return null
  // Back to the metrics' units; a metric that never varied has its mean as every centre.
  const raw = best.centres.map((c) => {
    const out = [...mean]
    varying.forEach((j, t) => { out[j] = mean[j]! + c[t]! * sd[j]! })
    return out
  })
  const within = new Array<number>(d).fill(Number.POSITIVE_INFINITY)
  varying.forEach((j, t) => { within[j] = best.pooled[t]! * sd[j]! ** 2 })
  return { centres: raw, within, mean, gain: modeGains(z, best.of, best.centres, dv) }
}

/**
 * Per mode, what its differences from its centre are multiplied by (on every metric that varies
 * within modes at all): the square root of 1 / its noise factor. A mode's noise factor is its
 * within-mode variance over the pooled one, averaged over those metrics: one number per mode,
 * since a mode has only a few held rows (about 3 – 9 for an engine with six conditions) and a
 * variance from so few rows is off by ±50 – 100 % metric by metric (measured: per-metric gains,
 * even shrunk, gave more early warnings). The factor is then shrunk toward 1 (the pooled spread)
 * by empirical Bayes (Smyth 2004, as limma moderates variances): a factor from ν·d' degrees of
 * freedom scatters on the log scale by trigamma(ν·d'/2) from sampling alone; what the factors
 * scatter beyond that is how much the modes' noise really differs, and sets the prior's weight
 * d0. Modes that differ in noise no more than sampling explains all get 1.
 */
function modeGains(z: number[][], of: number[], centres: number[][], dv: number): number[] {
  const k = centres.length
  const n = z.length
  const ss = centres.map(() => new Array<number>(dv).fill(0))
  const size = new Array<number>(k).fill(0)
  for (let i = 0; i < n; i++) {
    size[of[i]!]!++
    for (let j = 0; j < dv; j++) ss[of[i]!]![j]! += (z[i]![j]! - centres[of[i]!]![j]!) ** 2
  }
  const pooled = new Array<number>(dv).fill(0)
  for (let c = 0; c < k; c++) for (let j = 0; j < dv; j++) pooled[j]! += ss[c]![j]! / Math.max(1, n - k)
  // Metrics that vary within modes at all (in standardised units; a constant one tells nothing).
  const informative: number[] = []
  for (let j = 0; j < dv; j++) if (pooled[j]! > 1e-12) informative.push(j)
  const factor = new Array<number>(k).fill(1)
  const df = size.map((s) => (s - 1) * informative.length)
  for (let c = 0; c < k; c++) {
    if (df[c]! > 0) factor[c] = informative.reduce((a, j) => a + ss[c]![j]! / (size[c]! - 1) / pooled[j]!, 0) / informative.length
  }
  // Log factors, less their sampling bias; their scatter beyond sampling's gives d0.
  const e: number[] = []
  let sampling = 0
  for (let c = 0; c < k; c++) {
    if (!(df[c]! > 0 && factor[c]! > 0)) continue
    e.push(Math.log(factor[c]!) - digamma(df[c]! / 2) + Math.log(df[c]! / 2))
    sampling += trigamma(df[c]! / 2)
  }
  let d0 = Number.POSITIVE_INFINITY
  if (e.length >= 2) {
    const m = e.reduce((a, v) => a + v, 0) / e.length
    const excess = e.reduce((a, v) => a + (v - m) ** 2, 0) / (e.length - 1) - sampling / e.length
    if (excess > 0) d0 = 2 * trigammaInverse(excess)
  }
  return factor.map((f, c) => {
    const shrunk = Number.isFinite(d0) && df[c]! > 0 ? (d0 + df[c]! * f) / (d0 + df[c]!) : 1
    return 1 / Math.sqrt(Math.max(shrunk, 1e-6))
  })
}

/** ψ(x), the digamma function (x > 0): recurrence up to 6, then the asymptotic series. */
function digamma(x: number): number {
  let r = 0
  while (x < 6) { r -= 1 / x; x++ }
  const f = 1 / (x * x)
  return r + Math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f / 252))
}

/** ψ′(x), the trigamma function (x > 0). */
function trigamma(x: number): number {
  let r = 0
  while (x < 6) { r += 1 / (x * x); x++ }
  const f = 1 / (x * x)
  return r + 1 / x + f / 2 + (f / x) * (1 / 6 - f * (1 / 30 - f / 42))
}

/** The x > 0 with ψ′(x) = y (ψ′ decreases): bisection on log x. */
function trigammaInverse(y: number): number {
  let lo = Math.log(1e-8), hi = Math.log(1e8)
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2
    if (trigamma(Math.exp(mid)) > y) lo = mid; else hi = mid
  }
  return Math.exp((lo + hi) / 2)
}

function kmeans(z: number[][], k: number, d: number): { centres: number[][]; of: number[] } {
  const n = z.length
  const dist = (a: number[], b: number[]): number => {
    let q = 0
    for (let j = 0; j < d; j++) q += (a[j]! - b[j]!) ** 2
    return q
  }
  const centres: number[][] = [[...z[0]!]]
  const nearest = z.map((r) => dist(r, centres[0]!))
  while (centres.length < k) {
    let far = 0
    for (let i = 1; i < n; i++) if (nearest[i]! > nearest[far]!) far = i
    centres.push([...z[far]!])
    for (let i = 0; i < n; i++) nearest[i] = Math.min(nearest[i]!, dist(z[i]!, z[far]!))
  }
  const of = new Array<number>(n).fill(0)
  for (let iter = 0; iter < 50; iter++) {
    let changed = false
    for (let i = 0; i < n; i++) {
      let best = 0
      let bestQ = Number.POSITIVE_INFINITY
      for (let c = 0; c < k; c++) {
        const q = dist(z[i]!, centres[c]!)
        if (q < bestQ) { bestQ = q; best = c }
      }
      if (of[i] !== best) { of[i] = best; changed = true }
    }
    for (let c = 0; c < k; c++) {
      const members = z.filter((_, i) => of[i] === c)
      if (members.length === 0) continue
      for (let j = 0; j < d; j++) centres[c]![j] = members.reduce((a, r) => a + r[j]!, 0) / members.length
    }
    if (!changed && iter > 0) break
  }
  return { centres, of }
}

/** The mode nearest to `x` (NaN metrics left out). */
export function nearestMode(m: Modes, x: ArrayLike<number>): number {
  let best = 0
  let bestQ = Number.POSITIVE_INFINITY
  for (let c = 0; c < m.centres.length; c++) {
    let q = 0
    const centre = m.centres[c]!
    for (let j = 0; j < centre.length; j++) {
      const v = x[j]!
      if (Number.isFinite(v) && Number.isFinite(m.within[j]!)) q += (v - centre[j]!) ** 2 / m.within[j]!
    }
    if (q < bestQ) { bestQ = q; best = c }
  }
  return best
}

interface ModeState {
  /** Rows held until the modes are fitted; null once decided. */
  held: { x: number[]; t: number }[] | null
  modes: Modes | null
  /** Rows far from every mode, not yet judged (`NEW_MODE_ROWS`). */
  pending: { x: number[]; t: number }[]
  /** Rows near a mode since the first pending row. */
  near: number
  /** A warning is open: far rows are judged at once. */
  alarm: boolean
  /** The last judged row's score and health index, repeated for a pending row. */
  lastScore: number
  lastHealth: number
}

interface ModeSnapshotV1 {
  v: 1
  modes: Modes | null
  held: { x: (number | null)[]; t: number }[] | null
  inner: string | null
  /** Absent in snapshots taken before new modes were learnt while watching. */
  pending?: { x: (number | null)[]; t: number }[]
  near?: number
  alarm?: boolean
  last?: [number | null, number | null]
}

const WAITING: EngineResult = { score: 0, health: NaN, warning: null, cleared: false, remainingLife: null, deviation: null }

/**
 * How far `x` stands from `centre` beyond what noise puts there: its squared distance in pooled
 * within-mode spreads (× `gain`) less the number of metrics counted (a noise row's expected
 * squared distance). Far from a mode: more than MIN_SEPARATION².
 */
function excess(m: Modes, x: ArrayLike<number>, centre: ArrayLike<number>, gain: number): number {
  let q = 0
  let k = 0
  for (let j = 0; j < centre.length; j++) {
    const v = x[j]!
    if (!Number.isFinite(v) || !Number.isFinite(m.within[j]!)) continue
    q += ((v - centre[j]!) * gain) ** 2 / m.within[j]!
    k++
  }
  return q - k
}

/**
 * The centre of `rows` when they sit together as one operating condition: each row near (not
 * far from) the mean of the others. Null otherwise.
 */
function tightCentre(m: Modes, rows: { x: number[] }[]): number[] | null {
  const d = m.mean.length
  const sum = new Array<number>(d).fill(0)
  const count = new Array<number>(d).fill(0)
  for (const r of rows) for (let j = 0; j < d; j++) if (Number.isFinite(r.x[j]!)) { sum[j]! += r.x[j]!; count[j]!++ }
  const others = new Array<number>(d)
  for (const r of rows) {
    for (let j = 0; j < d; j++) {
      const fin = Number.isFinite(r.x[j]!)
      others[j] = count[j]! - (fin ? 1 : 0) > 0 ? (sum[j]! - (fin ? r.x[j]! : 0)) / (count[j]! - (fin ? 1 : 0)) : NaN
    }
    if (excess(m, r.x, others, 1) > MIN_SEPARATION ** 2) return null
  }
  return sum.map((v, j) => (count[j]! > 0 ? v / count[j]! : m.mean[j]!))
}

/**
 * `inner` with operating modes in front (see the header). `rowsToHold` is how many first rows
 * are held: at most the inner engine's warm-up, so every held row is a warm-up row there too and
 * handing them over late changes no result.
 */
export function withOperatingModes(inner: Engine, rowsToHold: number, preset?: Modes): Engine {
  const hold = Math.max(0, Math.min(MODE_ROWS, Math.floor(rowsToHold)))
  /** A reference's modes: every device starts with its own copy and holds no rows. */
  const copy = (m: Modes): Modes => ({ centres: m.centres.map((c) => [...c]), within: [...m.within], mean: [...m.mean], ...(m.gain ? { gain: [...m.gain] } : {}) })
  const states = new Map<string, ModeState>()
  let residual = new Float64Array(0)

  function toResidual(m: Modes, x: ArrayLike<number>, mode: number): Float64Array {
    const d = x.length
    if (residual.length !== d) residual = new Float64Array(d)
    const c = m.centres[mode]!
    const g = m.gain?.[mode] ?? 1
    for (let j = 0; j < d; j++) residual[j] = (x[j]! - c[j]!) * g + m.mean[j]!
    return residual
  }

  /** Judges a row against its nearest mode (`sizes`: held rows' modes, for their left-out residuals). */
  function judge(s: ModeState, m: Modes, deviceId: string, x: ArrayLike<number>, t: number, mode: number, sizes?: number[]): EngineResult {
    const r = toResidual(m, x, mode)
    // A held row helped place its own mode's centre, so it sits closer to it than later rows will:
    // its residual is taken as if left out (× n/(n − 1)), so the baseline learns the spread ahead.
    const n = sizes?.[mode] ?? 0
    if (n >= 2) for (let j = 0; j < r.length; j++) r[j] = (r[j]! - m.mean[j]!) * (n / (n - 1)) + m.mean[j]!
    const out = inner.process(deviceId, r, t)
    if (out.warning) {
      s.alarm = true
      // Evidence in the metrics' own terms: the value read, and the baseline of its mode.
      const c = m.centres[mode]!
      const g = m.gain?.[mode] ?? 1
      out.warning = {
        ...out.warning,
        moved: out.warning.moved.map((o) => ({ ...o, value: x[o.metric]!, baseline: c[o.metric]! + (o.baseline - m.mean[o.metric]!) / g })),
      }
    } else if (out.cleared) s.alarm = false
    s.lastScore = out.score
    s.lastHealth = out.health
    return out
  }

  function feed(s: ModeState, deviceId: string, x: ArrayLike<number>, t: number, sizes?: number[]): EngineResult {
    // A device whose metrics changed in number starts afresh in the engine; its modes no longer fit.
    if (s.modes && s.modes.mean.length !== x.length) { s.modes = null; s.pending = [] }
    if (!s.modes) return inner.process(deviceId, x, t)
    const m = s.modes
    const mode = nearestMode(m, x)
    // A row far from every mode, while no warning is open and a mode may still be added, waits:
    // it may be a condition the first rows never showed (`NEW_MODE_ROWS`).
    const far = !sizes && !s.alarm && m.centres.length < MAX_MODES && excess(m, x, m.centres[mode]!, m.gain?.[mode] ?? 1) > MIN_SEPARATION ** 2
    if (!far) {
      if (s.pending.length > 0) s.near++
      return judge(s, m, deviceId, x, t, mode, sizes)
    }
    s.pending.push({ x: Array.from(x), t })
    if (s.pending.length < NEW_MODE_ROWS) return { ...WAITING, score: Math.min(s.lastScore, 0.4999), health: s.lastHealth }
    const rows = s.pending
    const near = s.near
    s.pending = []
    s.near = 0
    // A new operating condition: the rows sit together, and the machine went on visiting its
    // known modes meanwhile (a fault that moves every row has no near rows in between).
    const centre = near > 0 ? tightCentre(m, rows) : null
    if (centre) {
      m.centres.push(centre)
      m.gain?.push(1)
      return { ...WAITING, score: Math.min(s.lastScore, 0.4999), health: s.lastHealth }
    }
    // No new condition: the rows are judged against their nearest modes, and a warning among them is this row's.
    let first: EngineResult | null = null
    let last = WAITING
    for (const h of rows) {
      last = judge(s, m, deviceId, h.x, h.t, nearestMode(m, h.x))
      if (last.warning && !first) first = { ...last }
    }
    return first ? { ...first, deviation: last.deviation, health: last.health, remainingLife: last.remainingLife } : last
  }

  return {
    config: inner.config,
    process(deviceId, values, timeMs) {
      let s = states.get(deviceId)
      if (!s) {
        const mine = preset && preset.mean.length === values.length ? copy(preset) : null
        s = { held: !mine && hold > 0 && values.length >= 2 ? [] : null, modes: mine, pending: [], near: 0, alarm: false, lastScore: 0, lastHealth: NaN }
        states.set(deviceId, s)
      }
      if (s.held === null) return feed(s, deviceId, values, timeMs)
      s.held.push({ x: Array.from(values), t: timeMs })
      if (s.held.length < hold) return WAITING
      const held = s.held
      s.held = null
      s.modes = held.every((h) => h.x.length === held[0]!.x.length) ? fitModes(held.map((h) => h.x), held[0]!.x.length) : null
      let last = WAITING
      // How many held rows each mode's centre was placed with (for their left-out residuals).
      let sizes: number[] | undefined
      if (s.modes) {
        sizes = new Array<number>(s.modes.centres.length).fill(0)
        for (const h of held) sizes[nearestMode(s.modes, h.x)]!++
      }
      for (const h of held) last = feed(s, deviceId, h.x, h.t, sizes)
      return last
    },
    reset(deviceId) {
      inner.reset(deviceId)
      const s = states.get(deviceId)
      if (s) { s.pending = []; s.near = 0; s.alarm = false }
    },
    snapshot(deviceId) {
      const s = states.get(deviceId)
      const innerSnap = inner.snapshot(deviceId) ?? null
      if (!s) return innerSnap ?? undefined
      const snap: ModeSnapshotV1 = {
        v: 1, modes: s.modes,
        held: s.held ? s.held.map((h) => ({ x: h.x.map((v) => (Number.isFinite(v) ? v : null)), t: h.t })) : null,
        inner: innerSnap,
        pending: s.pending.map((h) => ({ x: h.x.map((v) => (Number.isFinite(v) ? v : null)), t: h.t })),
        near: s.near, alarm: s.alarm,
        last: [s.lastScore, Number.isFinite(s.lastHealth) ? s.lastHealth : null],
      }
      return JSON.stringify({ modes: snap })
    },
    restore(deviceId, snapshot) {
      const o = JSON.parse(snapshot) as { modes?: ModeSnapshotV1 }
      // A snapshot of the engine alone (taken before operating modes existed): no modes.
      if (o.modes === undefined) {
        states.set(deviceId, { held: null, modes: null, pending: [], near: 0, alarm: false, lastScore: 0, lastHealth: NaN })
        inner.restore(deviceId, snapshot)
        return
      }
      const m = o.modes
      if (m.v !== 1) throw new Error(`unknown operating-modes snapshot version ${String(m.v)}`)
      states.set(deviceId, {
        modes: m.modes === null ? null : { ...m.modes, within: m.modes.within.map((v) => v ?? Number.POSITIVE_INFINITY) },
        held: m.held ? m.held.map((h) => ({ x: h.x.map((v) => v ?? NaN), t: h.t })) : null,
        pending: (m.pending ?? []).map((h) => ({ x: h.x.map((v) => v ?? NaN), t: h.t })),
        near: m.near ?? 0,
        alarm: m.alarm ?? false,
        lastScore: m.last?.[0] ?? 0,
        lastHealth: m.last?.[1] ?? NaN,
      })
      if (m.inner !== null) inner.restore(deviceId, m.inner)
    },
    baseline(deviceId) {
      // With modes the engine's baseline is of the differences from each mode's centre: it comes
      // with the modes (a reference learnt so watches a new device per mode from its first row).
      const m = states.get(deviceId)?.modes
      const b = inner.baseline(deviceId)
      return m && b ? { ...b, modes: copy(m) } : b
    },
  }
}

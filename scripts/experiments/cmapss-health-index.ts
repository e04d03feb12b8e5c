/**
 * Experiment (docs/detection.md): health indices for C-MAPSS FD001 prognostic warnings and remaining
 * life, measured with 5-fold engines left out (the history never holds the scored engine). Calls
 * the engine directly with replay's sizing, so it is fast enough to compare variants.
 *
 * The index is a ridge regression of the engine's smoothed deviation (`EngineResult.deviation`) onto
 * 1 − min(life, cap) / cap, cap = the history's shortest life, as `learnFailureModel` fits it;
 * variants: features (linear, log, squared), an EWMA of the index over rows, a local line.
 *
 *   npx tsx scripts/experiments/cmapss-health-index.ts [DATA_DIR]   warn at an index level learnt from the
 *                                  history (inner 5-fold: the level healthy rows exceed in a share alpha of devices)
 *   SPREAD=1 …   life left when the index first crosses fixed levels (percentiles over engines)
 *   SIM=1 [W=30 K=10] …   similarity-based life: last W index values matched against every history window
 *   NN=1 [ONLY=name] [AGG=mean] [NBF=0.02] …   life read off the nearest history index values
 *   Z=centred|scaled|raw [LAM=0.1] …   replace the engine's deviation by the EWMA minus the device's warm-up
 *                                  mean (centred), divided by its spread (scaled), or the EWMA itself (raw)
 *   RATE=1 [W=30] [RW=1] [LAG=1] …   life from the nearest history rows in (index, index slope over the last W rows;
 *                                  LAG=1: the index minus its EWMA of weight 2 / (W + 1) instead of the slope)
 * Every mode also prints the anomaly score's own first warnings and the failure model's RMSE today.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createEngine } from '../../detectors/engine.ts'
import { learnFailureModel, offlineWarmupRows } from '../../detectors/engine-fleet.ts'
import { ridgeSolve } from '../../detectors/linalg.ts'
import { replaySizing } from '../../cli/replay.ts'

const text = readFileSync(join(process.argv[2] ?? '../shared/data', 'cmapss-fd001', 'train_FD001.txt'), 'utf8').trim().split('\n').slice(1)
const byUnit = new Map<number, number[][]>()
for (const line of text) { const r = line.trim().split(/\s+/).slice(0, 26).map(Number); const l = byUnit.get(r[0]!) ?? []; l.push(r); byUnit.set(r[0]!, l) }
const units = [...byUnit.values()].map((rows) => ({ rows: rows.map((r) => r.slice(2)), timesMs: rows.map((r) => r[1]! * 3_600_000) }))
const H = 3_600_000

interface Trace { score: number[]; z: (Float64Array | null)[]; len: number }
function trace(u: { rows: number[][]; timesMs: number[] }, cfg: object): Trace {
  const e = createEngine(cfg)
  const score: number[] = [], z: (Float64Array | null)[] = []
  u.rows.forEach((r, i) => { const res = e.process('x', r, u.timesMs[i]!); score.push(res.score); z.push(res.deviation ? Float64Array.from(res.deviation, (v) => (Number.isFinite(v) ? v : 0)) : null) })
  return { score, z, len: u.rows.length }
}
const test = units.map((u) => trace(u, replaySizing(u.rows.length)))
const hist = units.map((u) => trace(u, { warmupRows: offlineWarmupRows(u.rows.length), rebaselineRows: Number.MAX_SAFE_INTEGER }))
// Z=centred: the EWMA's distance from the device's warm-up mean in the metric's units (not divided by
// the device's own spread, no wander allowance); Z=scaled: divided by the warm-up's spread.
if (process.env.Z) {
  const lam = Number(process.env.LAM ?? 0.1)
  for (const [k, t] of [...test.entries(), ...hist.entries()]) {
    const u = units[k]!, warm = offlineWarmupRows(u.rows.length), d = u.rows[0]!.length
    const mean = new Float64Array(d), sd = new Float64Array(d)
    for (let r = 0; r < warm; r++) for (let c = 0; c < d; c++) mean[c]! += u.rows[r]![c]! / warm
    for (let r = 0; r < warm; r++) for (let c = 0; c < d; c++) sd[c]! += (u.rows[r]![c]! - mean[c]!) ** 2 / (warm - 1)
    const ew = Float64Array.from(u.rows[0]!)
    t.z = u.rows.map((row, r) => {
      for (let c = 0; c < d; c++) ew[c]! += Math.max(1 / (r + 1), lam) * (row[c]! - ew[c]!)
      if (r < warm) return null
      return Float64Array.from(ew, (v, c) => { const x = process.env.Z === 'raw' ? v : process.env.Z === 'scaled' ? (v - mean[c]!) / Math.sqrt(sd[c]!) : v - mean[c]!; return Number.isFinite(x) ? x : 0 })
    })
  }
}

type Feat = (z: Float64Array) => number[]
const featLinear: Feat = (z) => [...z]
const featSq: Feat = (z) => [...z, ...z.map((v) => v * v / 10)]
const featLog: Feat = (z) => [...z.map((v) => Math.sign(v) * Math.log1p(Math.abs(v)))]

/** Ridge of features onto 1 − min(life, cap) / cap over the given history traces. */
const fits = new Map<string, (z: Float64Array) => number>()
function fitHI(idx: number[], feat: Feat, cap: number): (z: Float64Array) => number {
  const key = `${feat.name}:${idx.join(',')}`
  const hit = fits.get(key)
  if (hit) return hit
  const made = fitHI0(idx, feat, cap)
  fits.set(key, made)
  return made
}
function fitHI0(idx: number[], feat: Feat, cap: number): (z: Float64Array) => number {
  let k = 0, xtx: Float64Array | null = null, xty: Float64Array | null = null, n = 0
  for (const i of idx) {
    const t = hist[i]!
    t.z.forEach((z, r) => {
      if (!z) return
      const f = [...feat(z), 1]
      if (!xtx) { k = f.length; xtx = new Float64Array(k * k); xty = new Float64Array(k) }
      const y = 1 - Math.min(cap, t.len - 1 - r) / cap
      for (let a = 0; a < k; a++) { xty![a]! += f[a]! * y; for (let b = 0; b < k; b++) xtx![a * k + b]! += f[a]! * f[b]! }
      n++
    })
  }
  const w = ridgeSolve(xtx!, xty!, k, 1e-3 * n)!
  return (z) => { const f = feat(z); let s = w[k - 1]!; for (let a = 0; a < k - 1; a++) s += w[a]! * f[a]!; return s }
}

/** Smoothed HI along a trace: EWMA with weight a (a = 1: none). */
function hiSeries(t: Trace, hi: (z: Float64Array) => number, a: number): number[] {
  let s = NaN
  return t.z.map((z) => { if (!z) return NaN; const h = hi(z); s = Number.isFinite(s) ? s + a * (h - s) : h; return s })
}

/** Least squares over the last w points, value at the end (a local line). */
function lineSmooth(xs: number[], w: number): number[] {
  return xs.map((_, i) => {
    let n = 0, st = 0, sh = 0, stt = 0, sth = 0
    for (let j = Math.max(0, i - w + 1); j <= i; j++) { if (!Number.isFinite(xs[j]!)) continue; n++; st += j; sh += xs[j]!; stt += j * j; sth += j * xs[j]! }
    if (n < 2) return xs[i]!
    const slope = (n * sth - st * sh) / Math.max(1e-9, n * stt - st * st)
    return sh / n + slope * (i - st / n)
  })
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN }
const quantile = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]! }

function outcome(left: number[]): string {
  let early = 0, missed = 0; const ok: number[] = []
  for (const l of left) { if (l < 1) missed++; else if (l > 125) early++; else ok.push(l) }
  const n = left.length
  return `timely ${(ok.length / n).toFixed(2)} early ${(early / n).toFixed(2)} missed ${(missed / n).toFixed(2)} median left ${median(ok)}`
}

const folds = [0, 1, 2, 3, 4]
const all = units.map((_, i) => i)
const capOf = (idx: number[]): number => Math.min(...idx.map((i) => units[i]!.rows.length - 1))

/** First row at or after warm-up where the anomaly score warns, or the series crosses level. */
function firstLeft(t: Trace, series: number[] | null, level: number): number {
  const warm = offlineWarmupRows(t.len)
  for (let i = warm; i < t.len; i++) if (t.score[i]! >= 0.5 || (series && series[i]! >= level)) return t.len - 1 - i
  return -1
}

console.log('anomaly score only:', outcome(test.map((t) => firstLeft(t, null, Infinity))))

// RMSE at 5 seeded cut-offs per engine, as score-real.
function rmseOf(est: (fold: number, i: number, r: number) => number | null): string {
  let seed = 12345
  const rand = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647
  let se = 0, n = 0
  for (const f of folds) for (const i of all.filter((j) => j % 5 === f)) {
    const len = units[i]!.rows.length, warm = offlineWarmupRows(len)
    for (let k = 0; k < 5; k++) {
      const cut = warm + Math.floor(rand() * (len - warm))
      const e = est(f, i, cut)
      if (e === null) continue
      se += (e - Math.min(125, len - 1 - cut)) ** 2; n++
    }
  }
  return Math.sqrt(se / n).toFixed(1)
}

// Today's model, for reference.
const today = folds.map((f) => learnFailureModel(all.filter((j) => j % 5 !== f).map((j) => units[j]!)))
console.log('today RMSE', rmseOf((f, i, r) => { const z = test[i]!.z[r]; const e = z ? today[f]!.estimate(z) : null; return e ? e.lifeMs / H : null }))

const variants: [string, Feat, number, number][] = []
for (const [fn, feat] of [['linear', featLinear], ['log', featLog], ['sq', featSq]] as [string, Feat][]) {
  for (const a of [1, 0.2, 0.1]) for (const w of [1, 15]) variants.push([`${fn} ewma ${a} line ${w}`, feat, a, w])
}
for (const alpha of process.env.SPREAD || process.env.SIM || process.env.NN || process.env.RATE ? [] : [0.0, 0.02, 0.05]) {
  for (const [name, feat, a, w] of variants) {
    const left: number[] = []
    const levels: number[] = []
    const sm: number[][] = []
    for (const f of folds) {
      const hidx = all.filter((j) => j % 5 !== f)
      const cap = capOf(hidx)
      // Level: inner 5-fold over the history; each inner engine's highest smoothed HI while more than cap cycles remain.
      const peaks: number[] = []
      for (let g = 0; g < 5; g++) {
        const inner = hidx.filter((_, k) => k % 5 !== g), out = hidx.filter((_, k) => k % 5 === g)
        const hi = fitHI(inner, feat, capOf(inner))
        for (const j of out) {
          const s = lineSmooth(hiSeries(hist[j]!, hi, a), w)
          const len = hist[j]!.len
          let p = -Infinity
          for (let r = 0; r < len - 1 - cap; r++) if (Number.isFinite(s[r]!)) p = Math.max(p, s[r]!)
          peaks.push(p)
        }
      }
      const level = alpha === 0 ? Math.max(...peaks) : quantile(peaks, 1 - alpha)
      levels.push(level)
      const hi = fitHI(hidx, feat, cap)
      for (const i of all.filter((j) => j % 5 === f)) { const s = lineSmooth(hiSeries(test[i]!, hi, a), w); sm[i] = s; left[i] = firstLeft(test[i]!, s, level) }
    }
    console.log(`alpha ${alpha} ${name}: ${outcome(left)} levels ${levels.map((l) => l.toFixed(2)).join(' ')}`)
  }
}

// How tight is the index? Life left when the smoothed index first crosses a level (index alone), percentiles over engines.
if (process.env.SPREAD && !process.env.SIM && !process.env.NN) {
  for (const [name, feat, a, w] of variants.filter((v) => v[3] === 1)) {
    const series: number[][] = []
    for (const f of folds) {
      const hidx = all.filter((j) => j % 5 !== f)
      const hi = fitHI(hidx, feat, capOf(hidx))
      for (const i of all.filter((j) => j % 5 === f)) series[i] = lineSmooth(hiSeries(test[i]!, hi, a), w)
    }
    for (const level of [0.2, 0.25, 0.3, 0.35, 0.4]) {
      const left = series.map((s, i) => { const t = test[i]!; const warm = offlineWarmupRows(t.len); for (let r = warm; r < t.len; r++) if (s[r]! >= level) return t.len - 1 - r; return -1 })
      const q = (p: number) => quantile(left, p)
      console.log(`${name} level ${level}: left p5 ${q(0.05)} p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)} p95 ${q(0.95)} >125 ${left.filter((l) => l > 125).length}`)
    }
  }
}

// Similarity-based remaining life: the last W values of the index against every window of every history device.
if (process.env.SIM) {
  const W = Number(process.env.W ?? 30), K = Number(process.env.K ?? 10)
  const series: number[][] = [], est = new Map<string, number>()
  for (const f of folds) {
    const hidx = all.filter((j) => j % 5 !== f)
    const cap = capOf(hidx)
    const hi = fitHI(hidx, featLinear, cap)
    const hs = hidx.map((j) => hiSeries(hist[j]!, hi, 1))
    for (const i of all.filter((j) => j % 5 === f)) {
      const s = hiSeries(test[i]!, hi, 1); series[i] = s
      const len = s.length
      let stopAt = Infinity
      for (let r = offlineWarmupRows(len); r < len && r < stopAt; r++) {
        let w = 0; while (w < W && r - w >= 0 && Number.isFinite(s[r - w]!)) w++
        if (w < 5) continue
        const best: [number, number][] = []
        hs.forEach((h) => {
          let bs = Infinity, be = -1
          for (let e = w - 1; e < h.length; e++) {
            if (!Number.isFinite(h[e - w + 1]!)) continue
            let sse = 0
            for (let q = 0; q < w; q++) { const dd = s[r - q]! - h[e - q]!; sse += dd * dd; if (sse >= bs) break }
            if (sse < bs) { bs = sse; be = e }
          }
          if (be >= 0) best.push([bs, Math.min(cap, h.length - 1 - be)])
        })
        best.sort((a, b) => a[0] - b[0])
        const e = median(best.slice(0, K).map((b) => b[1]))
        est.set(`${i}:${r}`, e)
        if (e < 60 && stopAt === Infinity) stopAt = r + 1
      }
    }
  }
  // RMSE needs estimates at the cut-offs: fill those past the stop by 0-life extrapolation is wrong, so compute on demand.
  console.log(`similarity W ${W} K ${K}: RMSE (cut-offs before the stop only) ${rmseOf((f, i, r) => est.get(`${i}:${r}`) ?? null)}`)
  for (const T of [90, 100, 105, 110, 115]) for (const k of [1, 5, 10]) {
    const left = test.map((t, i) => { let run = 0; for (let r = offlineWarmupRows(t.len); r < t.len; r++) { if (t.score[r]! >= 0.5) return t.len - 1 - r; const e = est.get(`${i}:${r}`); if (e !== undefined && e <= T) { if (++run >= k) return t.len - 1 - r } else if (e !== undefined) run = 0 } return -1 })
    console.log(`  warn at estimate <= ${T} for ${k}: ${outcome(left)}`)
  }
}

// Remaining life read off the history's nearest index values (as the failure model does), for index variants.
if (process.env.NN) {
  for (const [name, feat, a, w] of variants.filter((v) => !process.env.ONLY || v[0] === process.env.ONLY)) {
    const est = new Map<string, number>()
    for (const f of folds) {
      const hidx = all.filter((j) => j % 5 !== f)
      const cap = capOf(hidx)
      const hi = fitHI(hidx, feat, cap)
      const pairs: [number, number][] = []
      for (const j of hidx) { const s = lineSmooth(hiSeries(hist[j]!, hi, a), w); s.forEach((v, r) => { if (Number.isFinite(v)) pairs.push([v, Math.min(cap, s.length - 1 - r)]) }) }
      pairs.sort((x, y) => x[0] - y[0])
      const keys = pairs.map((p) => p[0])
      const nb = Math.max(10, Math.round(Number(process.env.NBF ?? 0.02) * pairs.length))
      for (const i of all.filter((j) => j % 5 === f)) {
        const s = lineSmooth(hiSeries(test[i]!, hi, a), w)
        s.forEach((v, r) => {
          if (!Number.isFinite(v)) return
          let lo = 0, up = keys.length
          while (lo < up) { const m = (lo + up) >> 1; if (keys[m]! < v) lo = m + 1; else up = m }
          let x = lo - 1, y = lo; const got: number[] = []
          while (got.length < nb) { if (y >= keys.length || (x >= 0 && v - keys[x]! <= keys[y]! - v)) got.push(pairs[x--]![1]); else got.push(pairs[y++]![1]) }
          est.set(`${i}:${r}`, process.env.AGG === 'mean' ? got.reduce((x, y) => x + y, 0) / got.length : median(got))
        })
      }
    }
    const res: string[] = []
    for (const T of [90, 100, 110]) for (const k of [5, 15]) {
      const left = test.map((t, i) => { let run = 0; for (let r = offlineWarmupRows(t.len); r < t.len; r++) { if (t.score[r]! >= 0.5) return t.len - 1 - r; const e = est.get(`${i}:${r}`); if (e !== undefined && e <= T) { if (++run >= k) return t.len - 1 - r } else run = 0 } return -1 })
      res.push(`<=${T}x${k}: ${outcome(left)}`)
    }
    console.log(`${name}: RMSE ${rmseOf((f, i, r) => est.get(`${i}:${r}`) ?? null)}\n   ${res.join('\n   ')}`)
  }
}

// Level and rate: nearest history rows in (index, index slope over the last W rows), both standardised.
if (process.env.RATE) {
  const W = Number(process.env.W ?? 30)
  // LAG=1: the rate is the index minus its own EWMA of weight 2 / (W + 1) (one number per device, not a window).
  const lagOf = (s: number[]): number[] => { const lam = 2 / (W + 1); let e = NaN; return s.map((v) => { if (!Number.isFinite(v)) return 0; e = Number.isFinite(e) ? e + lam * (v - e) : v; return v - e }) }
  const slopeOf = (s: number[]): number[] => process.env.LAG ? lagOf(s) : s.map((_, i) => {
    let n = 0, st = 0, sh = 0, stt = 0, sth = 0
    for (let j = Math.max(0, i - W + 1); j <= i; j++) { if (!Number.isFinite(s[j]!)) continue; n++; st += j; sh += s[j]!; stt += j * j; sth += j * s[j]! }
    return n < 5 ? 0 : (n * sth - st * sh) / Math.max(1e-9, n * stt - st * st)
  })
  const est = new Map<string, number>()
  for (const f of folds) {
    const hidx = all.filter((j) => j % 5 !== f)
    const cap = capOf(hidx)
    const hi = fitHI(hidx, featLinear, cap)
    const P: [number, number, number][] = []
    for (const j of hidx) { const s = hiSeries(hist[j]!, hi, 1); const sl = slopeOf(s); s.forEach((v, r) => { if (Number.isFinite(v)) P.push([v, sl[r]!, Math.min(cap, s.length - 1 - r)]) }) }
    P.sort((a, b) => a[0] - b[0])
    const sd = (k: 0 | 1): number => { const m = P.reduce((a, p) => a + p[k], 0) / P.length; return Math.sqrt(P.reduce((a, p) => a + (p[k] - m) ** 2, 0) / P.length) }
    const s0 = sd(0), s1 = sd(1) / Number(process.env.RW ?? 1)
    const nb = Math.max(10, Math.round(0.02 * P.length))
    for (const i of all.filter((j) => j % 5 === f)) {
      const s = hiSeries(test[i]!, hi, 1); const sl = slopeOf(s)
      s.forEach((v, r) => {
        if (!Number.isFinite(v)) return
        // Candidates: the 5 × nb rows nearest by index alone (P is sorted by index), re-ranked with the rate.
        let lo = 0, up = P.length
        while (lo < up) { const m = (lo + up) >> 1; if (P[m]![0] < v) lo = m + 1; else up = m }
        const cand = P.slice(Math.max(0, lo - 5 * nb), Math.min(P.length, lo + 5 * nb))
        const d = cand.map((p) => [((p[0] - v) / s0) ** 2 + ((p[1] - sl[r]!) / s1) ** 2, p[2]] as const).sort((a, b) => a[0] - b[0]).slice(0, nb)
        est.set(`${i}:${r}`, d.reduce((a, x) => a + x[1], 0) / nb)
      })
    }
  }
  const res: string[] = []
  for (const T of [90, 100, 110]) for (const k of [5, 15]) {
    const left = test.map((t, i) => { let run = 0; for (let r = offlineWarmupRows(t.len); r < t.len; r++) { if (t.score[r]! >= 0.5) return t.len - 1 - r; const e = est.get(`${i}:${r}`); if (e !== undefined && e <= T) { if (++run >= k) return t.len - 1 - r } else run = 0 } return -1 })
    res.push(`<=${T}x${k}: ${outcome(left)}`)
  }
  console.log(`level+rate ${process.env.LAG ? 'lag' : 'slope'} W ${W} RW ${process.env.RW ?? 1}: RMSE ${rmseOf((f, i, r) => est.get(`${i}:${r}`) ?? null)}\n   ${res.join('\n   ')}`)
}

/**
 * Experiment, not product code (docs/detection.md, "tried and dropped"): does a step test — the
 * mean of the last w rows against the mean of the w rows before, per metric — catch the SKAB
 * valve1 runs the engine misses, without false alarms, when a random walk's excursions are
 * expected? Each metric's row noise σ² and walk rate q come from its warm-up variogram (local
 * level model: V(1) = 2σ² + q, V(L) = 2σ² + L·q), and the step (Δ of the window means) is
 * judged as Δ² / (2σ²/w + (2w² + 1)/(3w)·q) ≥ T. A metric whose warm-up variance ratio V(L)/V(1)
 * reaches `gate` (it wandered) is left to the engine's drift statistic. The step test is added to
 * the engine as replay runs it (a warning when either fires); C-MAPSS is scored the same way.
 *
 *   npx tsx scripts/experiments/skab-step.ts [DATA_DIR]
 *
 * Prints the in-sample table over the grid, the held-out choice (settings chosen on odd runs and
 * engines, scored on even, and the reverse, as `score-real --held-out`), and per-run detail for
 * the best in-sample setting.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createEngine } from '../../detectors/engine.ts'
import { replaySizing } from '../../cli/replay.ts'
import { offlineWarmupRows } from '../../detectors/engine-fleet.ts'
import { median as mid } from '../../cli/bench/stats.ts'

const data = process.argv[2] ?? '../shared/data'
interface Setting { w: number; gate: number; T: number; qScale?: number }
interface Series { rows: number[][]; warm: number; engine: number[] }

/** Rows at which the engine (replay sizing) starts a warning. */
function engineAlarms(rows: number[][], hourly: boolean): number[] {
  const e = createEngine(replaySizing(rows.length))
  const out: number[] = []
  rows.forEach((r, i) => { if (e.process('x', r, i * (hourly ? 3_600_000 : 1000)).score >= 0.5) out.push(i) })
  return out
}

/** Rows (from `from` on) where the step test fires on any metric that passes the gate. */
function stepAlarms(s: Series, st: Setting, from: number, L = 30): number[] {
  const { rows, warm } = s
  const fired = new Set<number>()
  for (let j = 0; j < rows[0]!.length; j++) {
    const x = rows.map((r) => r[j]!)
    const lag = Math.min(L, warm - 2)
    const V = (l: number): number => { let v = 0; for (let i = l; i < warm; i++) v += (x[i]! - x[i - l]!) ** 2; return v / (warm - l) }
    const v1 = V(1), vL = V(lag)
    if (!(v1 > 0) || vL / v1 >= st.gate) continue
    const q = Math.max(0, (vL - v1) / (lag - 1))
    const s2 = Math.max((v1 - q) / 2, 1e-12)
    const varDiff = 2 * s2 / st.w + (2 * st.w * st.w + 1) / (3 * st.w) * q * (st.qScale ?? 1)
    for (let i = Math.max(from, 2 * st.w - 1); i < rows.length; i++) {
      let a = 0, b = 0
      for (let k = 0; k < st.w; k++) { a += x[i - k]!; b += x[i - st.w - k]! }
      if (((a - b) / st.w) ** 2 / varDiff >= st.T) fired.add(i)
    }
  }
  return [...fired].sort((a, b) => a - b)
}

// SKAB valve1: labels stripped; first 15 % warm-up; clean = no warning before the fault, one inside.
const skabDir = join(data, 'skab', 'valve1')
const skab = readdirSync(skabDir).filter((f) => f.endsWith('.csv')).sort((a, b) => parseInt(a) - parseInt(b)).map((f) => {
  const lines = readFileSync(join(skabDir, f), 'utf8').trim().split(/\r?\n/).slice(1).map((l) => l.split(';'))
  const rows = lines.map((c) => c.slice(1, 9).map(Number))
  const labels = lines.map((c) => Number(c[9]))
  const times = lines.map((c) => Date.parse(`${c[0]!.replace(' ', 'T')}Z`))
  return { run: f, rows, labels, times, warm: Math.round(0.15 * rows.length), onset: labels.indexOf(1), engine: engineAlarms(rows, false) }
})
// C-MAPSS FD001: one engine per device, 24 channels; first warning after warm-up, timely at 1 – 125 cycles left.
const cm = new Map<number, number[][]>()
for (const line of readFileSync(join(data, 'cmapss-fd001', 'train_FD001.txt'), 'utf8').trim().split(/\r?\n/).slice(1)) {
  const r = line.trim().split(/\s+/).slice(0, 26).map(Number)
  cm.set(r[0]!, [...(cm.get(r[0]!) ?? []), r.slice(2)])
}
const cmapss = [...cm.values()].map((rows) => ({ rows, warm: offlineWarmupRows(rows.length), engine: engineAlarms(rows, true) }))

type SkabRun = { early: boolean; delay: number | null }
function skabRun(r: (typeof skab)[number], st: Setting | null): SkabRun {
  const all = [...r.engine, ...(st ? stepAlarms(r, st, r.warm) : [])].filter((i) => i >= r.warm).sort((a, b) => a - b)
  const hit = all.find((i) => i >= r.onset && r.labels[i] === 1)
  return { early: all.some((i) => i < r.onset), delay: hit === undefined ? null : (r.times[hit]! - r.times[r.onset]!) / 1000 }
}
function cmapssLeft(e: (typeof cmapss)[number], st: Setting | null): number {
  const all = [...e.engine, ...(st ? stepAlarms(e, st, e.warm) : [])].filter((i) => i >= e.warm)
  return all.length === 0 ? -1 : e.rows.length - 1 - Math.min(...all)
}
const median = (xs: number[]): number | null => (xs.length ? mid(xs) : null)
function summary(runs: SkabRun[], left: number[]) {
  const clean = runs.filter((r) => !r.early && r.delay !== null)
  const timely = left.filter((l) => l >= 1 && l <= 125)
  return {
    clean: clean.length / runs.length, falseAlarm: runs.filter((r) => r.early).length / runs.length, delay: median(clean.map((r) => r.delay!)),
    timely: timely.length / left.length, early: left.filter((l) => l > 125).length / left.length, lifeLeft: median(timely),
  }
}
const fmt = (s: ReturnType<typeof summary>): string =>
  `SKAB ${s.clean.toFixed(2)} / ${s.falseAlarm.toFixed(2)} / ${s.delay ?? '—'} s | C-MAPSS ${s.timely.toFixed(2)} / ${s.early.toFixed(2)} / ${s.lifeLeft ?? '—'}`

const label = (st: Setting | null): string => (st ? `w ${st.w}, ${st.qScale ? `no gate, q × ${st.qScale}` : `gate ${st.gate}`}, T ${st.T}` : 'engine alone')
const grid: Setting[] = []
for (const w of [30, 60]) for (const gate of [1.5, 2]) for (const T of [50, 100, 150]) grid.push({ w, gate, T })
// No gate: the walk rate is inflated instead (a wandering metric's warm-up understates how far it wanders later).
for (const qScale of [10, 30]) for (const T of [50, 100]) grid.push({ w: 30, gate: Infinity, T, qScale })
const results = new Map<Setting | null, { skab: SkabRun[]; left: number[] }>()
for (const st of [null, ...grid]) results.set(st, { skab: skab.map((r) => skabRun(r, st)), left: cmapss.map((e) => cmapssLeft(e, st)) })

console.log('setting | SKAB clean / false alarm / median delay | C-MAPSS timely / early / median cycles left')
for (const [st, r] of results) console.log(`${label(st)} | ${fmt(summary(r.skab, r.left))}`)

// Held out, as score-real --held-out: chosen on one half (odd positions) by the same objective, scored on the other.
const half = <T>(xs: T[], odd: boolean): T[] => xs.filter((_, i) => (i % 2 === 1) === odd)
const objective = (s: ReturnType<typeof summary>): number => s.clean - s.falseAlarm + s.timely - s.early + (s.lifeLeft ?? 0) / 125
const outSkab: SkabRun[] = [], outLeft: number[] = []
for (const odd of [true, false]) {
  let best: Setting | null = null, bestJ = -Infinity
  for (const [st, r] of results) {
    const j = objective(summary(half(r.skab, odd), half(r.left, odd)))
    if (j > bestJ) { bestJ = j; best = st }
  }
  console.log(`held-out: chosen on ${odd ? 'odd' : 'even'}: ${label(best)}`)
  outSkab.push(...half(results.get(best)!.skab, !odd))
  outLeft.push(...half(results.get(best)!.left, !odd))
}
console.log(`held out | ${fmt(summary(outSkab, outLeft))}`)

let best: Setting | null = null, bestJ = -Infinity
for (const [st, r] of results) { const j = objective(summary(r.skab, r.left)); if (j > bestJ) { bestJ = j; best = st } }
console.log(`per run, ${label(best)} (engine alone → with the step test):`)
skab.forEach((r, i) => {
  const a = results.get(null)!.skab[i]!, b = results.get(best)!.skab[i]!
  const o = (x: SkabRun): string => `${x.early ? 'false alarm' : 'no alarm before'}, ${x.delay === null ? 'missed' : `${x.delay} s`}`
  console.log(`  ${r.run}: ${o(a)} → ${o(b)}`)
})

/** The step statistic's largest value before the fault and inside it, per metric (w 30, no gate): which metrics step when. */
function largest(r: (typeof skab)[number], j: number, w = 30, L = 30): string {
  const x = r.rows.map((row) => row[j]!)
  const V = (l: number): number => { let v = 0; for (let i = l; i < r.warm; i++) v += (x[i]! - x[i - l]!) ** 2; return v / (r.warm - l) }
  const v1 = V(1), vL = V(L)
  const q = Math.max(0, (vL - v1) / (L - 1)), s2 = Math.max((v1 - q) / 2, 1e-12)
  const varDiff = 2 * s2 / w + (2 * w * w + 1) / (3 * w) * q
  let pre = 0, inside = 0
  for (let i = Math.max(r.warm, 2 * w - 1); i < r.rows.length; i++) {
    let a = 0, b = 0
    for (let k = 0; k < w; k++) { a += x[i - k]!; b += x[i - w - k]! }
    const z = ((a - b) / w) ** 2 / varDiff
    if (i < r.onset) pre = Math.max(pre, z)
    else if (r.labels[i] === 1) inside = Math.max(inside, z)
  }
  return `${pre.toFixed(0)} / ${inside.toFixed(0)} (V(${L})/V(1) ${(vL / v1).toFixed(1)})`
}
const names = ['Accelerometer1RMS', 'Accelerometer2RMS', 'Current', 'Pressure', 'Temperature', 'Thermocouple', 'Voltage', 'Volume Flow RateRMS']
console.log('largest step statistic before the fault / inside it (w 30), per metric:')
console.log(`| run | ${names.join(' | ')} |`)
for (const r of skab) console.log(`| ${r.run} | ${names.map((_, j) => largest(r, j)).join(' | ')} |`)

/**
 * `forewarn score-nab --data DIR` (`npm run score:nab`): the Numenta Anomaly Benchmark's scoring
 * of `replay --format nab`, run on each file exactly as a user would, with a fixed threshold
 * (a row with anomaly_score ≥ 0.5 is a detection). DIR is laid out as NAB is: `data/**.csv`
 * (timestamp,value) and `labels/combined_windows.json`. Only the files present under DIR/data
 * count, so a partial corpus gives a figure for those files only.
 *
 * The scoring follows NAB's own (nab/sweeper.py, nab/runner.py normalize):
 * - the first min(⌊15 % of rows⌋, 750) rows are probation: nothing there counts;
 * - a window's first detection scores A_TP·σ(position)/σ(−1), where position runs from −1 at the
 *   window's left edge towards 0 at its right edge and σ(x) = 2/(1+e^{5x}) − 1; later detections
 *   in the same window add nothing; a window without a detection costs −A_FN;
 * - a detection outside every window costs A_FP·σ(distance past the previous window's right edge
 *   in window widths) (−A_FP when no window precedes it or it lies ≥ 3 widths past);
 * - normalised: 100 × (raw − null) / (perfect − null), summed over files, where null = no
 *   detection at all and perfect = A_TP × every labelled window of the counted files.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { PassThrough } from 'node:stream'
import { parseTimestamp } from './replay-table.ts'
import { createEngine, defaultEngineConfig, type EngineConfig } from '../detectors/engine.ts'
import { replaySizing, runReplay } from './replay.ts'

export interface NabProfile { tpWeight: number; fpWeight: number; fnWeight: number }

/** NAB's standard application profile (config/profiles.json). */
export const STANDARD_PROFILE: NabProfile = { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 }

export const PROBATION_SHARE = 0.15

/** NAB's scaled sigmoid of a relative position (−1: window start, 0: window end, > 0: past it). */
export function scaledSigmoid(position: number): number {
  return position >= 3 ? -1 : 2 / (1 + Math.exp(5 * position)) - 1
}

export interface NabFileScore {
  file: string
  rows: number
  /** Labelled windows, and those that reach past the probation period (the scored ones). */
  windows: number
  scoredWindows: number
  /** Windows with a detection, windows without, detections outside every window (after probation). */
  tp: number
  fn: number
  fp: number
  /** Raw NAB score of this file, and what no detection at all would score. */
  score: number
  nullScore: number
}

/**
 * Scores one file's detections against its windows (timestamps in ms; windows as [start, end]
 * inclusive). Rows must be in time order, as NAB's are.
 */
export function scoreNabFile(
  file: string, timesMs: ArrayLike<number>, detected: ArrayLike<boolean>, windows: ReadonlyArray<readonly [number, number]>,
  profile: NabProfile = STANDARD_PROFILE,
): NabFileScore {
  const n = timesMs.length
  const probation = Math.min(Math.floor(PROBATION_SHARE * n), PROBATION_SHARE * 5000)
  // Each window as a row range; one that holds no row is no window (NAB's windows sit on rows).
  const ranges: Array<[number, number]> = []
  for (const [a, b] of [...windows].sort((x, y) => x[0] - y[0])) {
    let lo = -1, hi = -1
    for (let i = 0; i < n; i++) {
      if (timesMs[i]! < a || timesMs[i]! > b) continue
      if (lo < 0) lo = i
      hi = i
    }
    if (lo >= 0) ranges.push([lo, hi])
  }
  const best = ranges.map(([, hi]) => (hi >= probation ? -profile.fnWeight : NaN))
  const maxTp = scaledSigmoid(-1)
  let fpScore = 0, fp = 0
  let w = 0
  let prev = -1
  for (let i = 0; i < n; i++) {
    while (w < ranges.length && ranges[w]![1] < i) prev = w++
    if (i < probation || !detected[i]) continue
    const r = ranges[w]
    if (r && i >= r[0]) {
      const width = r[1] - r[0] + 1
      const s = scaledSigmoid(-(r[1] - i + 1) / width) * profile.tpWeight / maxTp
      best[w] = Math.max(best[w]!, s)
    } else {
      const p = prev >= 0 ? ranges[prev]! : null
      const past = p ? (p[1] - p[0] > 0 ? Math.abs(p[1] - i) / (p[1] - p[0]) : Number.POSITIVE_INFINITY) : 3
      fpScore += scaledSigmoid(past) * profile.fpWeight
      fp++
    }
  }
  const scored = best.filter((b) => !Number.isNaN(b))
  const tp = scored.filter((b) => b !== -profile.fnWeight).length
  return {
    file, rows: n, windows: windows.length, scoredWindows: scored.length, tp, fn: scored.length - tp, fp,
    score: scored.reduce((s, b) => s + b, 0) + fpScore, nullScore: 0 - profile.fnWeight * scored.length,
  }
}

export interface NabTotal {
  threshold: number
  files: NabFileScore[]
  /** Files of the label set that were not under DIR/data, and CSVs under DIR/data without labels. */
  missing: number
  unlabelled: string[]
  raw: number
  nullScore: number
  perfect: number
  /** 100 × (raw − null) / (perfect − null). */
  score: number
}

export function totalNab(files: NabFileScore[], threshold: number, missing: number, unlabelled: string[], profile: NabProfile = STANDARD_PROFILE): NabTotal {
  const raw = files.reduce((s, f) => s + f.score, 0)
  const nullScore = files.reduce((s, f) => s + f.nullScore, 0)
  const perfect = profile.tpWeight * files.reduce((s, f) => s + f.windows, 0)
  return { threshold, files, missing, unlabelled, raw, nullScore, perfect, score: 100 * (raw - nullScore) / (perfect - nullScore) }
}

function csvFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...csvFiles(p))
    else if (name.endsWith('.csv')) out.push(p)
  }
  return out
}

/** `timestamp,…,anomaly_score` rows of a NAB results table. */
function parseResults(text: string): { times: number[]; scores: number[] } {
  const lines = text.trim().split(/\r?\n/)
  const head = lines[0]!.split(',').map((h) => h.trim())
  const ts = head.indexOf('timestamp')
  const sc = head.indexOf('anomaly_score')
  if (ts < 0 || sc < 0) throw new Error(`no timestamp or anomaly_score column in ${head.join(',')}`)
  const times: number[] = [], scores: number[] = []
  for (const l of lines.slice(1)) {
    const c = l.split(',')
    times.push(parseTimestamp(c[ts] ?? ''))
    scores.push(Number(c[sc]))
  }
  return { times, scores }
}

async function replayNab(file: string, engine?: Partial<EngineConfig>): Promise<string> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const quiet = new PassThrough()
  quiet.resume()
  await runReplay({ file, format: 'nab', engine }, out, quiet)
  return Buffer.concat(chunks).toString('utf8')
}

export interface ScoreNabOptions {
  data: string
  threshold?: number
  /** Score NAB results tables (same relative paths as under DIR/data) instead of running replay. */
  results?: string
  /** Engine constants for replay (for measuring settings: --held-out). */
  engine?: Partial<EngineConfig>
}

export async function scoreNab(opts: ScoreNabOptions): Promise<NabTotal> {
  const threshold = opts.threshold ?? 0.5
  const labels = JSON.parse(readFileSync(join(opts.data, 'labels', 'combined_windows.json'), 'utf8')) as Record<string, [string, string][]>
  const dataDir = join(opts.data, 'data')
  const files: NabFileScore[] = []
  const unlabelled: string[] = []
  for (const path of csvFiles(dataDir)) {
    const key = relative(dataDir, path).split(sep).join('/')
    const limits = labels[key]
    if (!limits) { unlabelled.push(key); continue }
    const text = opts.results ? readFileSync(join(opts.results, key), 'utf8') : await replayNab(path, opts.engine)
    const { times, scores } = parseResults(text)
    const windows = limits.map(([a, b]) => [parseTimestamp(a), parseTimestamp(b)] as const)
    files.push(scoreNabFile(key, times, scores.map((s) => s >= threshold), windows))
  }
  return totalNab(files, threshold, Object.keys(labels).length - files.length, unlabelled)
}

/** The single-metric settings the held-out figure chooses from (the first is the default). */
export function nabHeldOutGrid(): Partial<EngineConfig>[] {
  const grid: Partial<EngineConfig>[] = []
  for (const singleMetricMargin of [defaultEngineConfig.singleMetricMargin, 1, 2, 3]) {
    for (const tailRisk of [defaultEngineConfig.tailRisk, 1e-4, 1e-8]) grid.push({ singleMetricMargin, tailRisk })
  }
  return grid
}

/** Warnings per series of seeded stationary noise, by kind: what a single-metric setting costs where nothing happens. */
export type StationaryWarnings = Record<string, number>

/**
 * 30 seeded series of 4,000 rows for each kind of stationary noise (AR(1) with φ 0, 0.5, 0.9,
 * 0.98, and heavy-tailed Student-t with 3 degrees of freedom), replayed with replay's sizing:
 * every warning is a false one.
 */
export function stationaryWarnings(engine: Partial<EngineConfig> = {}, series = 30, rows = 4000): StationaryWarnings {
  let seed = 42
  const uniform = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647
  const gauss = (): number => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())
  const out: StationaryWarnings = {}
  for (const kind of ['ar(1) 0', 'ar(1) 0.5', 'ar(1) 0.9', 'ar(1) 0.98', 'student-t 3']) {
    const phi = kind.startsWith('ar') ? Number(kind.slice(6)) : 0
    let warnings = 0
    for (let k = 0; k < series; k++) {
      const e = createEngine({ ...engine, ...replaySizing(rows) })
      const row = [0]
      let x = 0
      for (let i = 0; i < rows; i++) {
        x = kind.startsWith('ar') ? phi * x + gauss() * Math.sqrt(1 - phi * phi) : gauss() / Math.sqrt((gauss() ** 2 + gauss() ** 2 + gauss() ** 2) / 3)
        row[0] = 10 + x
        if (e.process('s', row, i * 60_000).warning) warnings++
      }
    }
    out[kind] = warnings / series
  }
  return out
}

export interface NabHeldOut { total: NabTotal; chosen: { file: string; setting: Partial<EngineConfig> }[]; grid: number; stationary: { setting: Partial<EngineConfig>; warnings: StationaryWarnings }[] }

/**
 * Leave one file out: for each file, the setting of `grid` that scores best on the other files
 * (first in grid order on a tie) scores it. The total is over files each scored with a setting
 * chosen without it.
 */
export async function scoreNabHeldOut(opts: ScoreNabOptions, grid: Partial<EngineConfig>[] = nabHeldOutGrid()): Promise<NabHeldOut> {
  const runs: NabTotal[] = []
  for (const engine of grid) runs.push(await scoreNab({ ...opts, results: undefined, engine }))
  const base = runs[0]!
  const chosen: NabHeldOut['chosen'] = []
  const files = base.files.map((f, i) => {
    let best = 0, bestScore = -Infinity
    runs.forEach((r, k) => {
      const others = r.files.filter((_, j) => j !== i)
      const s = others.length > 0 ? totalNab(others, base.threshold, 0, []).score : 0
      if (s > bestScore) { bestScore = s; best = k }
    })
    chosen.push({ file: f.file, setting: grid[best]! })
    return runs[best]!.files[i]!
  })
  const settings = [grid[0]!, ...new Set(chosen.map((c) => c.setting))].filter((x, i, all) => all.indexOf(x) === i)
  const stationary = settings.map((setting) => ({ setting, warnings: stationaryWarnings(setting) }))
  return { total: totalNab(files, base.threshold, base.missing, base.unlabelled), chosen, grid: grid.length, stationary }
}

export function formatNab(t: NabTotal): string {
  const w = Math.max(4, ...t.files.map((f) => f.file.length))
  const lines = [
    `${'file'.padEnd(w)}  rows  windows  tp  fn  fp     raw   null`,
    ...t.files.map((f) => `${f.file.padEnd(w)} ${String(f.rows).padStart(5)} ${String(f.windows).padStart(8)} ${String(f.tp).padStart(3)} ${String(f.fn).padStart(3)} ${String(f.fp).padStart(3)} ${f.score.toFixed(2).padStart(7)} ${f.nullScore.toFixed(0).padStart(6)}`),
    `NAB standard profile, threshold ${t.threshold}: ${t.score.toFixed(1)} (raw ${t.raw.toFixed(2)}, null ${t.nullScore.toFixed(0)}, perfect ${t.perfect.toFixed(0)})`,
    `Only the ${t.files.length} files under the data folder count (${t.missing} labelled files absent): not comparable with a full-corpus NAB score.`,
  ]
  if (t.unlabelled.length > 0) lines.push(`Skipped, no labels: ${t.unlabelled.join(', ')}`)
  return lines.join('\n')
}

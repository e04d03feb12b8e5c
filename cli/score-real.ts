/**
 * `forewarn score-real` (`npm run score:real`): the detection engine's scorecard on real machine
 * data (../shared/data, see its README), through `forewarn replay --format scores` exactly as a
 * user would run it. Conventions are the data README's:
 * - SKAB valve1: labels stripped; the first 15 % of rows are warm-up; a run is clean when no
 *   warning starts between the warm-up and the fault, and one starts inside it.
 * - C-MAPSS FD001: one cycle = one hour; first warning timely at 1–125 cycles left; remaining-life
 *   RMSE (truth capped at 125) at random cut-off points, with 5-fold engines left out of the history.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { defaultEngineConfig, type EngineConfig } from '../detectors/engine.ts'
import { offlineWarmupRows } from '../detectors/engine-fleet.ts'
import { median } from './bench/stats.ts'
import { runReplay, type ReplayOptions } from './replay.ts'

export interface SkabScore { runs: number; clean: number; falseAlarm: number; medianDelayS: number | null }
export interface CmapssScore {
  engines: number
  timely: number
  early: number
  missed: number
  medianLifeLeft: number | null
  rmse: number
  /** Share of cut-off points that had an estimate. */
  rulCoverage: number
}
export interface RealScore {
  skab: SkabScore
  skabWithReference: SkabScore
  cmapss: CmapssScore
  /** FD001's engines made to run in six operating conditions (`sixConditions`, seed 1): first warnings only. */
  cmapssSixConditions: Omit<CmapssScore, 'rmse' | 'rulCoverage'>
}

interface ScoreRow { timestamp: string; device: string; score: number; life: number | null }

async function scores(opts: Omit<ReplayOptions, 'format'>): Promise<ScoreRow[]> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const quiet = new PassThrough()
  quiet.resume()
  await runReplay({ ...opts, format: 'scores' }, out, quiet)
  const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').slice(1)
  return lines.map((l) => {
    const c = l.split(',')
    return { timestamp: c[0]!, device: c[1]!, score: Number(c[2]), life: c[3] === '' ? null : Number(c[3]) }
  })
}

/** The median, or null for none (JSON has no NaN). */
const medianOrNull = (xs: number[]): number | null => (xs.length === 0 ? null : median(xs))

/** A SKAB file without its labels, as a comma-separated table. */
function skabTable(file: string): { csv: string; labels: number[]; times: number[] } {
  const lines = readFileSync(file, 'utf8').trim().split(/\r?\n/).map((l) => l.split(';'))
  const header = lines[0]!
  const a = header.indexOf('anomaly')
  const keep = header.map((_, i) => i).filter((i) => header[i] !== 'anomaly' && header[i] !== 'changepoint')
  const rows = lines.slice(1)
  return {
    csv: `${keep.map((i) => header[i]).join(',')}\n${rows.map((r) => keep.map((i) => r[i]).join(',')).join('\n')}\n`,
    labels: rows.map((r) => Number(r[a])),
    times: rows.map((r) => Date.parse(`${r[0]!.replace(' ', 'T')}Z`)),
  }
}

/** One SKAB run's outcome: a warning before the fault (false alarm), and the delay of the first one inside it. */
export interface SkabRun { run: string; early: boolean; delayS: number | null }

async function skabRuns(dataDir: string, work: string, reference?: string, engine?: Partial<EngineConfig>): Promise<SkabRun[]> {
  const dir = join(dataDir, 'skab', 'valve1')
  const files = readdirSync(dir).filter((f) => f.endsWith('.csv')).sort((a, b) => parseInt(a) - parseInt(b))
  const runs: SkabRun[] = []
  for (const f of files) {
    const { csv, labels, times } = skabTable(join(dir, f))
    const path = join(work, `skab-${f}`)
    writeFileSync(path, csv)
    const rows = await scores({ file: path, timestampColumn: 'datetime', reference, engine })
    const warm = Math.round(0.15 * rows.length)
    const onset = labels.indexOf(1)
    let early = false, hit = -1
    for (let i = warm; i < rows.length; i++) {
      if (rows[i]!.score < 0.5) continue
      if (i < onset) early = true
      else if (labels[i] === 1 && hit < 0) hit = i
    }
    runs.push({ run: f, early, delayS: hit >= 0 ? (times[hit]! - times[onset]!) / 1000 : null })
  }
  return runs
}

function skabScore(runs: SkabRun[]): SkabScore {
  const clean = runs.filter((r) => !r.early && r.delayS !== null)
  const n = Math.max(1, runs.length)
  return { runs: runs.length, clean: clean.length / n, falseAlarm: runs.filter((r) => r.early).length / n, medianDelayS: medianOrNull(clean.map((r) => r.delayS!)) }
}

const CMAPSS_COLUMNS = ['unit', 'cycle', 'setting1', 'setting2', 'setting3', ...Array.from({ length: 21 }, (_, i) => `s${i + 1}`)]

function cmapssEngines(dataDir: string): Map<number, number[][]> {
  const text = readFileSync(join(dataDir, 'cmapss-fd001', 'train_FD001.txt'), 'utf8').trim().split(/\r?\n/).slice(1)
  const engines = new Map<number, number[][]>()
  for (const line of text) {
    const r = line.trim().split(/\s+/).slice(0, CMAPSS_COLUMNS.length).map(Number)
    const list = engines.get(r[0]!) ?? []
    list.push(r)
    engines.set(r[0]!, list)
  }
  return engines
}

/** Engines as a CSV: timestamp = cycle hours after the epoch, device = unit, then the 24 channels. */
function cmapssCsv(engines: [number, number[][]][]): string {
  const head = `timestamp,unit,${CMAPSS_COLUMNS.slice(2).join(',')}\n`
  return head + engines.flatMap(([, rows]) => rows.map((r) => `${r[1]! * 3600},${r[0]},${r.slice(2).join(',')}`)).join('\n') + '\n'
}

/** FD002's six operating conditions (altitude in kft, Mach, throttle angle): the setting columns of `sixConditions`. */
const SIX_SETTINGS = [[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100], [42, 0.84, 100]]

/**
 * FD001's engines made to run in six operating conditions, as FD002 and FD004 engines do (those
 * files are not here): each cycle is given one of six conditions at random, its setting columns
 * say which, and every sensor is moved by it (value × scale + offset; offsets up to 15 × the
 * sensor's whole range in FD001, scales 0.6 – 1.4, drawn once per seed; condition 0 leaves the
 * sensors as they are). The wear is FD001's own. With `withhold`, one condition (drawn per
 * engine) never comes in an engine's warm-up rows (its first 15 %), only after: a condition the
 * engine first meets while being watched. A detector that does not tell operating
 * conditions apart sees only them (docs/detection.md, "Operating modes").
 */
export function sixConditions(engines: [number, number[][]][], seed: number, opts: { withhold?: boolean } = {}): [number, number[][]][] {
  let state = seed
  const rand = (): number => (state = (state * 16807) % 2147483647) / 2147483647
  const ranges = Array.from({ length: 21 }, (_, j) => {
    let lo = Number.POSITIVE_INFINITY, hi = Number.NEGATIVE_INFINITY
    for (const [, rows] of engines) for (const r of rows) { lo = Math.min(lo, r[5 + j]!); hi = Math.max(hi, r[5 + j]!) }
    return hi - lo || 1
  })
  const offsets = SIX_SETTINGS.map((_, k) => ranges.map((range) => (k === 0 ? 0 : (rand() * 30 - 15) * range)))
  const scales = SIX_SETTINGS.map((_, k) => (k === 0 ? 1 : 0.6 + 0.8 * rand()))
  return engines.map(([unit, rows]) => {
    // `withhold`: one condition, drawn per engine, never comes in the engine's warm-up rows.
    const withheld = opts.withhold ? Math.floor(rand() * SIX_SETTINGS.length) : -1
    const warm = offlineWarmupRows(rows.length)
    return [unit, rows.map((r, i) => {
      let k: number
      if (withheld >= 0 && i < warm) {
        k = Math.floor(rand() * (SIX_SETTINGS.length - 1))
        if (k >= withheld) k++
      } else k = Math.floor(rand() * SIX_SETTINGS.length)
      return [r[0]!, r[1]!, ...SIX_SETTINGS[k]!, ...r.slice(5).map((v, j) => v * scales[k]! + offsets[k]![j]!)]
    })]
  })
}

/** One engine's first warning after warm-up: cycles left then (−1: none). */
export interface CmapssEngine { unit: number; leftAtWarning: number }

async function cmapssFirstWarnings(engines: [number, number[][]][], work: string, engine?: Partial<EngineConfig>): Promise<CmapssEngine[]> {
  const all = join(work, 'cmapss.csv')
  writeFileSync(all, cmapssCsv(engines))
  const rows = await scores({ file: all, timestampColumn: 'timestamp', deviceColumn: 'unit', engine })
  const out: CmapssEngine[] = []
  let at = 0
  for (const [unit, list] of engines) {
    const mine = rows.slice(at, at + list.length)
    at += list.length
    const warm = offlineWarmupRows(list.length)
    const first = mine.findIndex((r, i) => i >= warm && r.score >= 0.5)
    out.push({ unit, leftAtWarning: first < 0 ? -1 : list.length - 1 - first })
  }
  return out
}

function warningScore(list: CmapssEngine[]): Omit<CmapssScore, 'rmse' | 'rulCoverage'> {
  let timely = 0, early = 0, missed = 0
  const left: number[] = []
  for (const { leftAtWarning: l } of list) {
    if (l < 1) missed++
    else if (l > 125) early++
    else { timely++; left.push(l) }
  }
  const e = Math.max(1, list.length)
  return { engines: list.length, timely: timely / e, early: early / e, missed: missed / e, medianLifeLeft: medianOrNull(left) }
}

/**
 * Remaining-life errors per engine, engines left out: 5 folds (engine i in fold i mod 5), each
 * scored with a history of the other folds, at 5 seeded random cut-off points per engine.
 */
async function rulErrors(engines: [number, number[][]][], work: string, engine?: Partial<EngineConfig>): Promise<Map<number, { se: number; n: number; none: number }>> {
  let seed = 12345
  const rand = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647
  const errors = new Map<number, { se: number; n: number; none: number }>()
  for (let fold = 0; fold < 5; fold++) {
    const test = engines.filter((_, i) => i % 5 === fold)
    const history = join(work, `history-${fold}.csv`)
    const file = join(work, `fold-${fold}.csv`)
    writeFileSync(history, cmapssCsv(engines.filter((_, i) => i % 5 !== fold)))
    writeFileSync(file, cmapssCsv(test))
    const out = await scores({ file, timestampColumn: 'timestamp', deviceColumn: 'unit', history, engine })
    let off = 0
    for (const [unit, list] of test) {
      const warm = offlineWarmupRows(list.length)
      const e = { se: 0, n: 0, none: 0 }
      for (let k = 0; k < 5; k++) {
        const cut = warm + Math.floor(rand() * (list.length - warm))
        const truth = Math.min(125, list.length - 1 - cut)
        const est = out[off + cut]!.life
        if (est === null) { e.none++; continue }
        e.se += (est - truth) ** 2
        e.n++
      }
      errors.set(unit, e)
      off += list.length
    }
  }
  return errors
}

function rulScore(errors: Map<number, { se: number; n: number; none: number }>, units: number[]): { rmse: number; rulCoverage: number } {
  let se = 0, n = 0, none = 0
  for (const u of units) {
    const e = errors.get(u)!
    se += e.se
    n += e.n
    none += e.none
  }
  return { rmse: n > 0 ? Math.sqrt(se / n) : NaN, rulCoverage: n / Math.max(1, n + none) }
}

async function scoreCmapss(engines: [number, number[][]][], work: string): Promise<CmapssScore> {
  const errors = await rulErrors(engines, work)
  return { ...warningScore(await cmapssFirstWarnings(engines, work)), ...rulScore(errors, engines.map(([u]) => u)) }
}

export async function scoreReal(dataDir: string): Promise<RealScore> {
  const work = mkdtempSync(join(tmpdir(), 'forewarn-score-'))
  try {
    const reference = join(work, 'reference.csv')
    writeFileSync(reference, skabTable(join(dataDir, 'skab', 'anomaly-free', 'anomaly-free.csv')).csv)
    const engines = [...cmapssEngines(dataDir)]
    return {
      skab: skabScore(await skabRuns(dataDir, work)),
      skabWithReference: skabScore(await skabRuns(dataDir, work, reference)),
      cmapss: await scoreCmapss(engines, work),
      cmapssSixConditions: warningScore(await cmapssFirstWarnings(sixConditions(engines, 1), work)),
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/**
 * The grid the engine's shared constants were chosen on (docs/detection.md): both multi-metric
 * margins, the drift EWMA weight, and the per-metric floor. The first entry is the default.
 */
export function heldOutGrid(): Partial<EngineConfig>[] {
  const grid: Partial<EngineConfig>[] = []
  for (const margin of [defaultEngineConfig.driftMargin, 6, 11]) {
    for (const ewmaWeight of [defaultEngineConfig.ewmaWeight, 0.05, 0.2]) {
      for (const perMetricFloor of [defaultEngineConfig.perMetricFloor, 9, 25]) grid.push({ shiftMargin: margin, driftMargin: margin, ewmaWeight, perMetricFloor })
    }
  }
  return grid
}

/** What a setting is chosen by, on the runs and engines it may see (higher is better). */
function objective(skab: SkabScore, warn: Omit<CmapssScore, 'rmse' | 'rulCoverage'>): number {
  return skab.clean - skab.falseAlarm + warn.timely - warn.early + (warn.medianLifeLeft ?? 0) / 125
}

export interface HeldOutFold { chosenOn: 'odd' | 'even'; setting: Partial<EngineConfig>; inSampleObjective: number }
export interface HeldOutScore { grid: number; folds: HeldOutFold[]; skab: SkabScore; cmapss: CmapssScore }

/**
 * Held-out figures: the engine's constants are chosen on half of the runs and engines (odd
 * positions) from `grid`, and scored on the other half; then the reverse. Every run and engine
 * is thus scored once, with a setting chosen without it. Remaining life keeps its 5-fold
 * history (engines left out), run with the setting chosen for the engine's half.
 */
export async function scoreHeldOut(dataDir: string, grid: Partial<EngineConfig>[] = heldOutGrid()): Promise<HeldOutScore> {
  const work = mkdtempSync(join(tmpdir(), 'forewarn-heldout-'))
  try {
    const engines = [...cmapssEngines(dataDir)]
    const results: { skab: SkabRun[]; cmapss: CmapssEngine[] }[] = []
    for (const setting of grid) results.push({ skab: await skabRuns(dataDir, work, undefined, setting), cmapss: await cmapssFirstWarnings(engines, work, setting) })
    const half = <T>(xs: T[], odd: boolean): T[] => xs.filter((_, i) => (i % 2 === 1) === odd)
    const folds: HeldOutFold[] = []
    const skabOut: SkabRun[] = []
    const warnOut: CmapssEngine[] = []
    let se = 0, n = 0, none = 0
    for (const odd of [true, false]) {
      let best = 0, bestJ = -Infinity
      results.forEach((r, k) => {
        const j = objective(skabScore(half(r.skab, odd)), warningScore(half(r.cmapss, odd)))
        if (j > bestJ) { bestJ = j; best = k }
      })
      folds.push({ chosenOn: odd ? 'odd' : 'even', setting: grid[best]!, inSampleObjective: bestJ })
      skabOut.push(...half(results[best]!.skab, !odd))
      const scored = half(results[best]!.cmapss, !odd)
      warnOut.push(...scored)
      const rul = rulScore(await rulErrors(engines, work, grid[best]), scored.map((e) => e.unit))
      const units = scored.length * rul.rulCoverage * 5
      se += rul.rmse ** 2 * units
      n += units
      none += scored.length * 5 - units
    }
    return { grid: grid.length, folds, skab: skabScore(skabOut), cmapss: { ...warningScore(warnOut), rmse: Math.sqrt(se / n), rulCoverage: n / (n + none) } }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export function formatHeldOut(h: HeldOutScore): string {
  const f = (x: number | null, d = 2): string => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(d))
  const setting = (s: Partial<EngineConfig>): string => Object.entries(s).map(([k, v]) => `${k} ${String(v)}`).join(', ')
  return [
    ...h.folds.map((fo) => `held-out: chosen on ${fo.chosenOn} runs/engines (${h.grid} settings): ${setting(fo.setting)}`),
    `SKAB valve1, held out      clean ${f(h.skab.clean)}, false alarm ${f(h.skab.falseAlarm)}, median delay ${f(h.skab.medianDelayS, 0)} s (${h.skab.runs} runs)`,
    `C-MAPSS FD001, held out    first warning timely ${f(h.cmapss.timely)}, early ${f(h.cmapss.early)}, missed ${f(h.cmapss.missed)}, median life left ${f(h.cmapss.medianLifeLeft, 0)} cycles (${h.cmapss.engines} engines)`,
    `C-MAPSS FD001, held out    remaining life RMSE ${f(h.cmapss.rmse, 1)} cycles (estimate at ${f(100 * h.cmapss.rulCoverage, 0)} % of cut-offs)`,
  ].join('\n')
}

export function formatRealScore(s: RealScore): string {
  const f = (x: number | null, d = 2): string => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(d))
  const sk = (k: SkabScore): string => `clean ${f(k.clean)}, false alarm ${f(k.falseAlarm)}, median delay ${f(k.medianDelayS, 0)} s (${k.runs} runs)`
  return [
    `SKAB valve1                 ${sk(s.skab)}`,
    `SKAB valve1, --reference    ${sk(s.skabWithReference)}`,
    `C-MAPSS FD001 first warning timely ${f(s.cmapss.timely)}, early ${f(s.cmapss.early)}, missed ${f(s.cmapss.missed)}, median life left ${f(s.cmapss.medianLifeLeft, 0)} cycles (${s.cmapss.engines} engines)`,
    `C-MAPSS FD001 remaining life RMSE ${f(s.cmapss.rmse, 1)} cycles (truth capped at 125; 5-fold, engines left out; estimate at ${f(100 * s.cmapss.rulCoverage, 0)} % of cut-offs)`,
    `C-MAPSS FD001 in six operating conditions (sixConditions, seed 1): first warning timely ${f(s.cmapssSixConditions.timely)}, early ${f(s.cmapssSixConditions.early)}, missed ${f(s.cmapssSixConditions.missed)}, median life left ${f(s.cmapssSixConditions.medianLifeLeft, 0)} cycles`,
  ].join('\n')
}

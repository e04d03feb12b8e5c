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
export interface RealScore { skab: SkabScore; skabWithReference: SkabScore; cmapss: CmapssScore }

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

async function scoreSkab(dataDir: string, work: string, reference?: string): Promise<SkabScore> {
  const dir = join(dataDir, 'skab', 'valve1')
  const files = readdirSync(dir).filter((f) => f.endsWith('.csv')).sort((a, b) => parseInt(a) - parseInt(b))
  let clean = 0, falseAlarm = 0
  const delays: number[] = []
  for (const f of files) {
    const { csv, labels, times } = skabTable(join(dir, f))
    const path = join(work, `skab-${f}`)
    writeFileSync(path, csv)
    const rows = await scores({ file: path, timestampColumn: 'datetime', reference })
    const warm = Math.round(0.15 * rows.length)
    const onset = labels.indexOf(1)
    let early = false, hit = -1
    for (let i = warm; i < rows.length; i++) {
      if (rows[i]!.score < 0.5) continue
      if (i < onset) early = true
      else if (labels[i] === 1 && hit < 0) hit = i
    }
    if (early) falseAlarm++
    if (!early && hit >= 0) {
      clean++
      delays.push((times[hit]! - times[onset]!) / 1000)
    }
  }
  return { runs: files.length, clean: clean / files.length, falseAlarm: falseAlarm / files.length, medianDelayS: medianOrNull(delays) }
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

async function scoreCmapss(dataDir: string, work: string): Promise<CmapssScore> {
  const engines = [...cmapssEngines(dataDir)]
  const all = join(work, 'cmapss.csv')
  writeFileSync(all, cmapssCsv(engines))
  const rows = await scores({ file: all, timestampColumn: 'timestamp', deviceColumn: 'unit' })
  let timely = 0, early = 0, missed = 0
  const left: number[] = []
  let at = 0
  for (const [, list] of engines) {
    const mine = rows.slice(at, at + list.length)
    at += list.length
    const warm = offlineWarmupRows(list.length)
    const first = mine.findIndex((r, i) => i >= warm && r.score >= 0.5)
    const l = first < 0 ? -1 : list.length - 1 - first
    if (first < 0 || l < 1) missed++
    else if (l > 125) early++
    else { timely++; left.push(l) }
  }
  // Remaining life, engines left out: 5 folds, 5 seeded random cut-off points per engine.
  let seed = 12345
  const rand = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647
  let se = 0, n = 0, none = 0
  for (let fold = 0; fold < 5; fold++) {
    const test = engines.filter((_, i) => i % 5 === fold)
    const history = join(work, `history-${fold}.csv`)
    const file = join(work, `fold-${fold}.csv`)
    writeFileSync(history, cmapssCsv(engines.filter((_, i) => i % 5 !== fold)))
    writeFileSync(file, cmapssCsv(test))
    const out = await scores({ file, timestampColumn: 'timestamp', deviceColumn: 'unit', history })
    let off = 0
    for (const [, list] of test) {
      const warm = offlineWarmupRows(list.length)
      for (let k = 0; k < 5; k++) {
        const cut = warm + Math.floor(rand() * (list.length - warm))
        const truth = Math.min(125, list.length - 1 - cut)
        const est = out[off + cut]!.life
        if (est === null) { none++; continue }
        se += (est - truth) ** 2
        n++
      }
      off += list.length
    }
  }
  const e = engines.length
  return {
    engines: e, timely: timely / e, early: early / e, missed: missed / e, medianLifeLeft: medianOrNull(left),
    rmse: n > 0 ? Math.sqrt(se / n) : NaN, rulCoverage: n / (n + none),
  }
}

export async function scoreReal(dataDir: string): Promise<RealScore> {
  const work = mkdtempSync(join(tmpdir(), 'forewarn-score-'))
  try {
    const reference = join(work, 'reference.csv')
    writeFileSync(reference, skabTable(join(dataDir, 'skab', 'anomaly-free', 'anomaly-free.csv')).csv)
    return {
      skab: await scoreSkab(dataDir, work),
      skabWithReference: await scoreSkab(dataDir, work, reference),
      cmapss: await scoreCmapss(dataDir, work),
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export function formatRealScore(s: RealScore): string {
  const f = (x: number | null, d = 2): string => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(d))
  const sk = (k: SkabScore): string => `clean ${f(k.clean)}, false alarm ${f(k.falseAlarm)}, median delay ${f(k.medianDelayS, 0)} s (${k.runs} runs)`
  return [
    `SKAB valve1                 ${sk(s.skab)}`,
    `SKAB valve1, --reference    ${sk(s.skabWithReference)}`,
    `C-MAPSS FD001 first warning timely ${f(s.cmapss.timely)}, early ${f(s.cmapss.early)}, missed ${f(s.cmapss.missed)}, median life left ${f(s.cmapss.medianLifeLeft, 0)} cycles (${s.cmapss.engines} engines)`,
    `C-MAPSS FD001 remaining life RMSE ${f(s.cmapss.rmse, 1)} cycles (truth capped at 125; 5-fold, engines left out; estimate at ${f(100 * s.cmapss.rulCoverage, 0)} % of cut-offs)`,
  ].join('\n')
}

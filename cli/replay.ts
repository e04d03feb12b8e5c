/**
 * `forewarn replay FILE`: real telemetry from a table through the detection engine
 * (detectors/engine.ts), one engine state per device, rows in input order. Each device learns its
 * own baseline from its first 15 % of rows (the benchmarks' probation period). `--reference`
 * gives a type's normal, `--history` machines run to failure (remaining life from the fleet).
 *
 * Output formats:
 * - jsonl: one `warning.raised` JSON line per warning, with the metrics that moved;
 * - nab: `timestamp,value,anomaly_score` per input row;
 * - scores: `timestamp,device,anomaly_score,remaining_life_h,remaining_life_low_h,remaining_life_high_h`
 *   per input row. The score is ≥ 0.5 exactly on the rows where a warning starts.
 */
import { createEngine, type Engine, type EngineConfig, type EngineResult } from '../detectors/engine.ts'
import { learnFailureModel, learnReference, offlineWarmupRows, type DeviceHistory, type FailureModel } from '../detectors/engine-fleet.ts'
import type { BaselineModel } from '../detectors/engine.ts'
import { describeIssues, deviceOf, parseTimestamp, readTable, unitOf, valuesOf, type Table } from './replay-table.ts'

export { parseTimestamp, splitCsvLine } from './replay-table.ts'

export type ReplayFormat = 'jsonl' | 'nab' | 'scores'

export interface ReplayOptions {
  file: string
  timestampColumn?: string
  deviceColumn?: string
  format: ReplayFormat
  reference?: string
  history?: string
  /** Engine constants other than the recording's sizing (for measuring settings: score-real --held-out). */
  engine?: Partial<EngineConfig>
}

const HOUR_MS = 3_600_000

function historiesOf(t: Table): DeviceHistory[] {
  const byDevice = new Map<string, DeviceHistory>()
  const scratch = new Float64Array(t.metricCols.length)
  let last = 0
  for (const r of t.rows) {
    const id = deviceOf(t, r)
    let h = byDevice.get(id)
    if (!h) byDevice.set(id, (h = { rows: [], timesMs: [] }))
    const ts = parseTimestamp(r[t.tsCol] ?? '')
    if (Number.isFinite(ts)) last = ts
    h.rows.push(Float64Array.from(valuesOf(t, r, scratch)))
    h.timesMs.push(last)
  }
  return [...byDevice.values()]
}

/** Engine sizing for a recording of `rows` rows of one device (see runReplay). */
export function replaySizing(rows: number): Pick<EngineConfig, 'warmupRows' | 'rebaselineRows' | 'clearRows'> {
  return { warmupRows: offlineWarmupRows(rows), rebaselineRows: Math.max(50, Math.round(0.1 * rows)), clearRows: Math.max(30, Math.round(0.02 * rows)) }
}

const csvCell = (s: string): string => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s)
const hours = (ms: number): string => (Number.isFinite(ms) ? (ms / HOUR_MS).toFixed(2) : '')

export async function runReplay(opts: ReplayOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream = process.stderr): Promise<void> {
  const timestampColumn = opts.timestampColumn ?? 'timestamp'
  const { table: t, issues } = await readTable(opts.file, { timestampColumn, deviceColumn: opts.deviceColumn })
  err.write(describeIssues(t, issues))
  const metrics = t.metricCols.map((c) => t.header[c]!)

  let reference: BaselineModel | undefined
  if (opts.reference) {
    const r = await readTable(opts.reference, { timestampColumn, deviceColumn: opts.deviceColumn, metrics })
    err.write(describeIssues(r.table, r.issues))
    const devices = historiesOf(r.table)
    reference = learnReference({ rows: devices.flatMap((h) => h.rows), timesMs: devices.flatMap((h) => h.timesMs) }, opts.engine)
  }
  let failure: FailureModel | undefined
  if (opts.history) {
    const h = await readTable(opts.history, { timestampColumn, deviceColumn: opts.deviceColumn, metrics })
    err.write(describeIssues(h.table, h.issues))
    failure = learnFailureModel(historiesOf(h.table), opts.engine)
  }

  const perDevice = new Map<string, number>()
  for (const r of t.rows) perDevice.set(deviceOf(t, r), (perDevice.get(deviceOf(t, r)) ?? 0) + 1)
  // Sized to the recording: learn from the first 15 %; a new normal after 10 % without a new high.
  const engines = new Map<string, Engine>()
  for (const [id, n] of perDevice) {
    engines.set(id, createEngine({ ...opts.engine, ...replaySizing(n) }, { reference, failure }))
  }
  const lastTime = new Map<string, number>()
  const values = new Float64Array(metrics.length)
  let buf = opts.format === 'nab' ? 'timestamp,value,anomaly_score\n'
    : opts.format === 'scores' ? 'timestamp,device,anomaly_score,remaining_life_h,remaining_life_low_h,remaining_life_high_h\n' : ''
  const flush = async (): Promise<void> => {
    if (buf === '') return
    const ok = out.write(buf)
    buf = ''
    if (!ok) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
  }
  for (let row = 0; row < t.rows.length; row++) {
    const r = t.rows[row]!
    const id = deviceOf(t, r)
    const rawTs = r[t.tsCol] ?? ''
    const parsed = parseTimestamp(rawTs)
    const time = Number.isFinite(parsed) ? parsed : (lastTime.get(id) ?? 0)
    lastTime.set(id, time)
    const res = engines.get(id)!.process(id, valuesOf(t, r, values), time)
    if (opts.format === 'nab') buf += `${csvCell(rawTs)},${(r[t.metricCols[0]!] ?? '').trim()},${res.score.toFixed(4)}\n`
    else if (opts.format === 'scores') {
      const life = res.remainingLife
      buf += `${csvCell(rawTs)},${csvCell(id)},${res.score.toFixed(4)},${life ? `${hours(life.lifeMs)},${hours(life.lowMs)},${hours(life.highMs)}` : ',,'}\n`
    } else if (res.warning) buf += `${JSON.stringify(warningLine(res, id, row, rawTs, parsed, metrics))}\n`
    if (buf.length > 65_536) await flush()
  }
  await flush()
}

function warningLine(res: EngineResult, id: string, row: number, rawTs: string, ts: number, metrics: string[]): Record<string, unknown> {
  const w = res.warning!
  const top = w.moved[0]!
  const round = (x: number): number => Math.round(x * 1000) / 1000
  return {
    kind: 'warning.raised', deviceId: id || 'replay', episodeId: `${id || 'replay'}:ANOMALY:${w.episode}`, faultCode: 'ANOMALY',
    severity: res.score >= 0.75 ? 'critical' : 'warning', cause: w.cause,
    row: row + 1, timestamp: rawTs, eventTime: Number.isFinite(ts) ? ts : null,
    metric: metrics[top.metric], value: top.value, baseline: round(top.baseline), deviation: Math.round(top.spreads * 100) / 100,
    evidence: w.moved.map((m) => ({
      metric: metrics[m.metric], unit: unitOf(metrics[m.metric]!), value: m.value, baseline: round(m.baseline),
      change: round(m.value - m.baseline), spreads: Math.round(m.spreads * 100) / 100,
    })),
    remainingLifeH: res.remainingLife ? { estimate: round(res.remainingLife.lifeMs / HOUR_MS), low: round(res.remainingLife.lowMs / HOUR_MS), high: round(res.remainingLife.highMs / HOUR_MS) } : null,
    score: Math.round(res.score * 1000) / 1000, source: 'detector',
  }
}

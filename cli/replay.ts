/**
 * `forewarn replay FILE.csv`: real telemetry from a CSV through the generic detector. Every
 * numeric column except the timestamp and device columns is a metric; rows are split per
 * device when a device column is named. Output: warnings as JSON lines, or with `--format nab`
 * one `timestamp,value,anomaly_score` row per input row, in input order.
 */
import { readFile } from 'node:fs/promises'
import { createGenericDetector, type GenericDetector } from '../detectors/generic.ts'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

export interface ReplayOptions {
  file: string
  timestampColumn?: string
  deviceColumn?: string
  format: 'jsonl' | 'nab'
}

/** Splits one CSV line (RFC 4180 quotes, doubled quotes inside). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++ }
      else if (c === '"') quoted = false
      else cur += c
    } else if (c === '"') quoted = true
    else if (c === ',') { out.push(cur); cur = '' }
    else cur += c
  }
  out.push(cur)
  return out
}

/** Event time of a timestamp cell: ISO or "YYYY-MM-DD hh:mm:ss" (UTC unless zoned), or epoch s/ms. */
export function parseTimestamp(raw: string): number {
  const t = raw.trim()
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    const n = Number(t)
    return n < 1e11 ? n * 1000 : n
  }
  const iso = t.includes('T') ? t : t.replace(' ', 'T')
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(iso)
  const ms = Date.parse(zoned || !/T\d/.test(iso) ? iso : `${iso}Z`)
  return Number.isFinite(ms) ? ms : NaN
}

const isNumber = (s: string): boolean => s.trim() !== '' && Number.isFinite(Number(s))

export async function runReplay(opts: ReplayOptions, out: NodeJS.WritableStream): Promise<void> {
  let text: string
  try {
    text = await readFile(opts.file, 'utf8')
  } catch (err) {
    throw new ForewarnError(ErrorCode.CONFIG, `cannot read ${opts.file}: ${(err as Error).message}`, { cause: err })
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = text.split(/\r?\n/)
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  if (lines.length === 0) throw new ForewarnError(ErrorCode.CONFIG, `${opts.file} is empty: a header line is required`)
  const header = splitCsvLine(lines[0]!).map((h) => h.trim())
  const tsName = opts.timestampColumn ?? 'timestamp'
  const tsCol = header.indexOf(tsName)
  if (tsCol < 0) throw new ForewarnError(ErrorCode.CONFIG, `no timestamp column "${tsName}" in ${header.join(',')}`)
  const devCol = opts.deviceColumn === undefined ? -1 : header.indexOf(opts.deviceColumn)
  if (opts.deviceColumn !== undefined && devCol < 0) throw new ForewarnError(ErrorCode.CONFIG, `no device column "${opts.deviceColumn}" in ${header.join(',')}`)

  const rows = lines.slice(1).map(splitCsvLine)
  // A metric column is one whose non-empty cells are all numbers.
  const metricCols = header
    .map((_, i) => i)
    .filter((i) => i !== tsCol && i !== devCol && rows.some((r) => (r[i] ?? '').trim() !== '') && rows.every((r) => (r[i] ?? '').trim() === '' || isNumber(r[i]!)))
  if (metricCols.length === 0) throw new ForewarnError(ErrorCode.CONFIG, `no numeric metric column in ${header.join(',')}`)

  const deviceOf = (r: string[]): string => (devCol >= 0 ? (r[devCol] ?? '').trim() : 'replay')
  const perDevice = new Map<string, number>()
  for (const r of rows) perDevice.set(deviceOf(r), (perDevice.get(deviceOf(r)) ?? 0) + 1)
  // Sized to the recording: learn from the first 15 % (benchmarks' probation), one warning per 5 %.
  const detectors = new Map<string, GenericDetector>()
  for (const [id, n] of perDevice) {
    detectors.set(id, createGenericDetector({
      warmupRows: Math.max(20, Math.round(0.15 * n)),
      windowRows: Math.min(2000, Math.max(50, Math.round(0.15 * n))),
      refractoryRows: Math.max(10, Math.round(0.05 * n)),
    }))
  }
  const counts = new Map<string, number>()
  const values = new Float64Array(metricCols.length)
  let buf = opts.format === 'nab' ? 'timestamp,value,anomaly_score\n' : ''
  const flush = async (): Promise<void> => {
    if (buf === '') return
    const ok = out.write(buf)
    buf = ''
    if (!ok) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
  }
  for (let row = 0; row < rows.length; row++) {
    const r = rows[row]!
    const id = deviceOf(r)
    metricCols.forEach((c, i) => { values[i] = isNumber(r[c] ?? '') ? Number(r[c]) : NaN })
    const res = detectors.get(id)!.process(id, values)
    const rawTs = r[tsCol] ?? ''
    if (opts.format === 'nab') buf += `${rawTs},${(r[metricCols[0]!] ?? '').trim()},${res.score.toFixed(4)}\n`
    else if (res.warning) {
      const n = (counts.get(id) ?? 0) + 1
      counts.set(id, n)
      const w = res.warning
      const ts = parseTimestamp(rawTs)
      buf += `${JSON.stringify({
        kind: 'warning.raised', deviceId: id, episodeId: `${id}:ANOMALY:${n}`, faultCode: 'ANOMALY', severity: res.score >= 0.75 ? 'critical' : 'warning',
        row: row + 1, timestamp: rawTs, eventTime: Number.isFinite(ts) ? ts : null, metric: header[metricCols[w.metric]!], value: w.value,
        baseline: w.baseline, deviation: Math.round(w.deviation * 100) / 100, score: Math.round(res.score * 1000) / 1000, source: 'detector',
      })}\n`
    }
    if (buf.length > 65_536) await flush()
  }
  await flush()
}

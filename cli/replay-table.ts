/**
 * Reading a telemetry table for `forewarn replay`: comma, semicolon, tab or whitespace separated
 * (found from the header line), a timestamp column, an optional device column, and every other
 * column that is mostly numbers as a metric. Bad cells become missing values and are counted, so
 * that a few of them never discard a column nor pass silently.
 */
import { readFile } from 'node:fs/promises'
import { parse } from 'csv-parse/sync'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

export interface Table {
  file: string
  header: string[]
  /** Data rows as cells (header excluded). */
  rows: string[][]
  tsCol: number
  devCol: number
  metricCols: number[]
}

export interface TableIssues {
  badCells: Map<string, number>
  badTimestamps: number
  firstBadTimestampRow: number
  skippedColumns: string[]
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

export const isNumber = (s: string | undefined): boolean => s !== undefined && s.trim() !== '' && Number.isFinite(Number(s))

/** Splits one CSV line (RFC 4180 quotes, doubled quotes inside). */
export function splitCsvLine(line: string): string[] {
  return (parse(line, { relax_column_count: true, relax_quotes: true }) as string[][])[0] ?? ['']
}

function delimiterOf(headerLine: string): string | RegExp {
  if (headerLine.includes('\t')) return '\t'
  const commas = headerLine.split(',').length
  const semis = headerLine.split(';').length
  if (semis > commas) return ';'
  if (commas > 1) return ','
  return /\s+/
}

export interface TableOptions {
  timestampColumn: string
  deviceColumn?: string
  /** Metric names the table must carry (a reference or history for another table). */
  metrics?: string[]
}

export async function readTable(file: string, opts: TableOptions): Promise<{ table: Table; issues: TableIssues }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ForewarnError(ErrorCode.CONFIG, `cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const firstLine = text.slice(0, text.search(/\r?\n|$/))
  if (firstLine.trim() === '') throw new ForewarnError(ErrorCode.CONFIG, `${file} is empty: a header line is required`)
  const delim = delimiterOf(firstLine)
  let cells: string[][]
  if (typeof delim === 'string') {
    try {
      cells = parse(text, { delimiter: delim, relax_column_count: true, relax_quotes: true, skip_empty_lines: true }) as string[][]
    } catch (err) {
      throw new ForewarnError(ErrorCode.CONFIG, `${file} is not a readable table: ${(err as Error).message}`, { cause: err })
    }
  } else {
    cells = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '').map((l) => l.split(delim))
  }
  const header = (cells[0] ?? []).map((h) => h.trim())
  const rows = cells.slice(1)
  const tsCol = header.indexOf(opts.timestampColumn)
  if (tsCol < 0) throw new ForewarnError(ErrorCode.CONFIG, `no timestamp column "${opts.timestampColumn}" in ${file} (${header.join(',')})`)
  const devCol = opts.deviceColumn === undefined ? -1 : header.indexOf(opts.deviceColumn)
  if (opts.deviceColumn !== undefined && devCol < 0 && !opts.metrics) {
    throw new ForewarnError(ErrorCode.CONFIG, `no device column "${opts.deviceColumn}" in ${file} (${header.join(',')})`)
  }
  const issues: TableIssues = { badCells: new Map(), badTimestamps: 0, firstBadTimestampRow: -1, skippedColumns: [] }
  let metricCols: number[]
  if (opts.metrics) {
    metricCols = opts.metrics.map((name) => {
      const i = header.indexOf(name)
      if (i < 0) throw new ForewarnError(ErrorCode.CONFIG, `${file} has no column "${name}", a metric of the replayed file`)
      return i
    })
  } else {
    // A metric column: at least half of its non-empty cells are numbers; the rest are bad cells.
    metricCols = []
    header.forEach((name, i) => {
      if (i === tsCol || i === devCol) return
      let filled = 0, numeric = 0
      for (const r of rows) {
        const c = r[i]
        if (c === undefined || c.trim() === '') continue
        filled++
        if (isNumber(c)) numeric++
      }
      if (filled > 0 && numeric * 2 >= filled) metricCols.push(i)
      else issues.skippedColumns.push(name)
    })
    if (metricCols.length === 0) throw new ForewarnError(ErrorCode.CONFIG, `no numeric metric column in ${file} (${header.join(',')})`)
  }
  for (const i of metricCols) {
    let bad = 0
    for (const r of rows) {
      const c = r[i]
      if (c !== undefined && c.trim() !== '' && !isNumber(c)) bad++
    }
    if (bad > 0) issues.badCells.set(header[i]!, bad)
  }
  rows.forEach((r, k) => {
    if (!Number.isFinite(parseTimestamp(r[tsCol] ?? ''))) {
      issues.badTimestamps++
      if (issues.firstBadTimestampRow < 0) issues.firstBadTimestampRow = k + 1
    }
  })
  return { table: { file, header, rows, tsCol, devCol, metricCols }, issues }
}

/** One stderr paragraph about what was not clean in a table, or '' when all was. */
export function describeIssues(t: Table, issues: TableIssues): string {
  const lines: string[] = []
  const bad = [...issues.badCells.values()].reduce((a, b) => a + b, 0)
  if (bad > 0) {
    const per = [...issues.badCells].map(([c, n]) => `${c}: ${n}`).join(', ')
    lines.push(`${t.file}: ${bad} bad cells in ${issues.badCells.size} of ${t.metricCols.length} metric columns across ${t.rows.length} rows (${per}); read as missing values`)
  }
  if (issues.badTimestamps > 0) {
    lines.push(`${t.file}: ${issues.badTimestamps} of ${t.rows.length} rows have an unparseable timestamp (first at data row ${issues.firstBadTimestampRow}); they are scored and echoed as given, at the previous row's time`)
  }
  if (issues.skippedColumns.length > 0) lines.push(`${t.file}: not metrics (mostly not numbers): ${issues.skippedColumns.join(', ')}`)
  return lines.map((l) => `replay: ${l}\n`).join('')
}

/** The device of a row: the device column's cell, or one device for the whole file. */
export const deviceOf = (t: Table, r: string[]): string => (t.devCol >= 0 ? (r[t.devCol] ?? '').trim() : '')

/** A row's metric values in `t.metricCols` order (NaN = missing or bad). */
export function valuesOf(t: Table, r: string[], out: Float64Array): Float64Array {
  t.metricCols.forEach((c, i) => { out[i] = isNumber(r[c]) ? Number(r[c]) : NaN })
  return out
}

/** The unit in a column name: "Voltage (V)", "temp [°C]"; null when none is written. */
export function unitOf(name: string): string | null {
  const m = /[([]([^)\]]+)[)\]]\s*$/.exec(name)
  return m ? m[1]!.trim() : null
}

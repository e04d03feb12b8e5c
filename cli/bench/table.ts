/** The bench's table: figure, median, spread over runs, and the target where issue 8 sets one. */
import { fmt, type Figure } from './stats.ts'

export interface Row {
  label: string
  fig: Figure
  target?: string
}

export function renderTable(rows: readonly Row[], notes: readonly string[]): string {
  const head: [string, string, string, string, string] = ['figure', 'median', 'spread (min – max)', 'runs', 'target']
  const body = rows.map((r): [string, string, string, string, string] => [
    r.label, fmt(r.fig.median), r.fig.runs > 1 ? `${fmt(r.fig.min)} – ${fmt(r.fig.max)}` : '', String(r.fig.runs), r.target ?? '',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]?.length ?? 0)))
  const line = (cells: readonly string[]): string =>
    `${cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd()}\n`
  let out = line(head) + line(widths.map((w) => '-'.repeat(w)))
  for (const b of body) out += line(b)
  for (const n of notes) out += `* ${n}\n`
  return out
}

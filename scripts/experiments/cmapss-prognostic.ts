/**
 * Experiment, not product code (docs/detection.md, "tried and dropped"): would C-MAPSS engines be
 * warned earlier by their predicted remaining life than by the anomaly score? Runs `forewarn replay`
 * with a history of the other folds (5-fold, engines left out, as score-real's RUL figure) and
 * reports first warnings when a warning also starts once the remaining-life estimate has stayed
 * below a fraction of the history's cap for k rows.
 *
 *   npx tsx scripts/experiments/cmapss-prognostic.ts [DATA_DIR]
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { PassThrough } from 'node:stream'
import { runReplay } from '../../cli/replay.ts'
import { offlineWarmupRows } from '../../detectors/engine-fleet.ts'
const COLS = ['unit', 'cycle', 'op1', 'op2', 'op3', ...Array.from({ length: 21 }, (_, i) => `s${i + 1}`)]
const text = readFileSync(join(process.argv[2] ?? '../shared/data', 'cmapss-fd001', 'train_FD001.txt'), 'utf8').trim().split('\n').slice(1)
const engines = new Map<number, number[][]>()
for (const line of text) { const r = line.trim().split(/\s+/).slice(0, COLS.length).map(Number); const l = engines.get(r[0]!) ?? []; l.push(r); engines.set(r[0]!, l) }
const all = [...engines]
const csv = (es: [number, number[][]][]) => `timestamp,unit,${COLS.slice(2).join(',')}\n` + es.flatMap(([, rows]) => rows.map((r) => `${r[1]! * 3600},${r[0]},${r.slice(2).join(',')}`)).join('\n') + '\n'
const work = mkdtempSync(join(tmpdir(), 'exp-'))
type Row = { score: number; life: number | null; low: number | null; high: number | null }
const res: { len: number; rows: Row[]; cap: number }[] = []
for (let fold = 0; fold < 5; fold++) {
  const test = all.filter((_, i) => i % 5 === fold)
  const hist = all.filter((_, i) => i % 5 !== fold)
  const cap = Math.min(...hist.map(([, r]) => r.length - 1))
  writeFileSync(join(work, 'h.csv'), csv(hist)); writeFileSync(join(work, 't.csv'), csv(test))
  const out = new PassThrough(); const ch: Buffer[] = []; out.on('data', (c: Buffer) => ch.push(c))
  const q = new PassThrough(); q.resume()
  await runReplay({ file: join(work, 't.csv'), timestampColumn: 'timestamp', deviceColumn: 'unit', history: join(work, 'h.csv'), format: 'scores' } as never, out, q)
  const lines = Buffer.concat(ch).toString().trim().split('\n').slice(1).map((l) => l.split(','))
  let off = 0
  for (const [, list] of test) {
    const rows = lines.slice(off, off + list.length).map((c) => ({ score: Number(c[2]), life: c[3] === '' ? null : Number(c[3]), low: c[4] === '' ? null : Number(c[4]), high: c[5] === '' ? null : Number(c[5]) }))
    res.push({ len: list.length, rows, cap }); off += list.length
  }
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN }
function report2(name: string, f: number, k: number) {
  let early = 0, missed = 0; const left: number[] = []
  for (const e of res) {
    const warm = offlineWarmupRows(e.len); let first = -1, run = 0
    for (let i = warm; i < e.len; i++) { const r = e.rows[i]!; if (r.score >= 0.5) { first = i; break } ; if (r.life !== null && r.life < f * e.cap) { run++; if (run >= k) { first = i; break } } else run = 0 }
    const l = first < 0 ? -1 : e.len - 1 - first
    if (l < 1) missed++; else if (l > 125) early++; else left.push(l)
  }
  console.log(`${name}: timely ${(left.length / res.length).toFixed(2)} early ${(early / res.length).toFixed(2)} missed ${(missed / res.length).toFixed(2)} median left ${median(left)}`)
}
report2('anomaly score only', 0, 1)
for (const f of [0.9, 0.85, 0.8, 0.75]) for (const k of [5, 10, 15, 20]) report2(`life < ${f} cap for ${k}`, f, k)

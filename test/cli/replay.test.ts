import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { parseTimestamp, runReplay, splitCsvLine } from '../../cli/replay.ts'
import { rng } from '../../simulators/appliance.ts'

const dir = mkdtempSync(join(tmpdir(), 'forewarn-replay-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

type Opts = { deviceColumn?: string; timestampColumn?: string; format: 'jsonl' | 'nab' | 'scores'; history?: string; reference?: string }

async function replayWithErr(file: string, o: Opts): Promise<{ lines: string[]; err: string }> {
  const out = new PassThrough()
  const err = new PassThrough()
  const chunks: Buffer[] = []
  const errChunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  err.on('data', (c: Buffer) => errChunks.push(c))
  await runReplay({ file, ...o }, out, err)
  return { lines: Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== ''), err: Buffer.concat(errChunks).toString('utf8') }
}

async function replay(file: string, o: Opts): Promise<string[]> {
  return (await replayWithErr(file, o)).lines
}

/** A noisy signal with a jump at row `at` (0-based data row). */
function series(n: number, at: number, seed: number): number[] {
  const r = rng(seed)
  return Array.from({ length: n }, (_, i) => 50 + (r() - 0.5) * 2 + (i >= at && i < at + 5 ? 40 : 0))
}

const stamp = (i: number): string => `2014-04-01 ${String(Math.floor(i / 60) % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00`

describe('replay --format nab', () => {
  it('echoes every row in order with a score, ≥ 0.5 only where the warning starts (CRLF input)', async () => {
    const vals = series(1000, 700, 1)
    const file = join(dir, 'nab.csv')
    writeFileSync(file, `timestamp,value\r\n${vals.map((v, i) => `${stamp(i)},${v.toFixed(3)}`).join('\r\n')}\r\n`)
    const lines = await replay(file, { format: 'nab' })
    expect(lines[0]).toBe('timestamp,value,anomaly_score')
    expect(lines.length).toBe(1001)
    const rows = lines.slice(1).map((l) => l.split(','))
    rows.forEach((r, i) => {
      expect(r[0]).toBe(stamp(i))
      expect(r[1]).toBe(vals[i]!.toFixed(3))
      const s = Number(r[2])
      expect(s >= 0 && s <= 1).toBe(true)
    })
    const alarms = rows.map((r, i) => [i, Number(r[2])] as const).filter(([, s]) => s >= 0.5).map(([i]) => i)
    expect(alarms).toEqual([700])
  })
})

describe('replay --format jsonl', () => {
  it('splits machines by the device column and prints one warning per event, with a named timestamp column', async () => {
    const a = series(600, 400, 2)
    const b = series(600, 10_000, 3)
    const file = join(dir, 'multi.csv')
    const body = a.map((v, i) => `${1_400_000_000 + i * 60},m1,${v.toFixed(2)},"x"\n${1_400_000_000 + i * 60},m2,${b[i]!.toFixed(2)},"y"`).join('\n')
    writeFileSync(file, `time,machine,temp,label\n${body}\n`)
    const lines = await replay(file, { format: 'jsonl', deviceColumn: 'machine', timestampColumn: 'time' })
    expect(lines.length).toBe(1)
    const w = JSON.parse(lines[0]!)
    expect(w).toMatchObject({ kind: 'warning.raised', deviceId: 'm1', episodeId: 'm1:ANOMALY:1', metric: 'temp', timestamp: String(1_400_000_000 + 400 * 60), eventTime: (1_400_000_000 + 400 * 60) * 1000 })
  })

  it('refuses a file without the timestamp column with a clear error', async () => {
    const file = join(dir, 'bad.csv')
    writeFileSync(file, 'when,value\n1,2\n')
    await expect(replay(file, { format: 'nab' })).rejects.toThrow(/no timestamp column "timestamp"/)
  })
})

describe('replay --format scores', () => {
  const HEADER = 'timestamp,device,anomaly_score,remaining_life_h,remaining_life_low_h,remaining_life_high_h'

  it('prints one row per input row in order, device empty without --device-column, ≥ 0.5 only where a warning starts', async () => {
    const vals = series(1000, 700, 4)
    const file = join(dir, 'scores.csv')
    writeFileSync(file, `timestamp;Pressure (bar)\n${vals.map((v, i) => `${stamp(i)};${v.toFixed(3)}`).join('\n')}\n`)
    const lines = await replay(file, { format: 'scores' })
    expect(lines[0]).toBe(HEADER)
    expect(lines.length).toBe(1001)
    const rows = lines.slice(1).map((l) => l.split(','))
    rows.forEach((r, i) => {
      expect(r[0]).toBe(stamp(i))
      expect(r[1]).toBe('')
      expect(r.length).toBe(6)
    })
    expect(rows.map((r, i) => [i, Number(r[2])] as const).filter(([, s]) => s >= 0.5).map(([i]) => i)).toEqual([700])
    // The same file as warnings: the evidence names the metric with its unit and how far it moved.
    const [w] = (await replay(file, { format: 'jsonl' })).map((l) => JSON.parse(l))
    expect(w.evidence[0]).toMatchObject({ metric: 'Pressure (bar)', unit: 'bar' })
    expect(w.evidence[0].change).toBeGreaterThan(30)
  })

  it('reads whitespace-separated files and estimates remaining life from a --history of machines run to failure', async () => {
    const r = rng(5)
    const machine = (id: number, life: number): string[] => Array.from({ length: life }, (_, t) => {
      const wear = Math.max(0, t - 0.4 * life) / (0.6 * life)
      return `${t * 3600} m${id} ${(20 + r()).toFixed(3)} ${(5 + 0.3 * r() + 4 * wear ** 1.5).toFixed(3)}`
    })
    const history = join(dir, 'history.txt')
    writeFileSync(history, `t unit a b\n${Array.from({ length: 12 }, (_, k) => machine(k, 200 + 10 * k)).flat().join('\n')}\n`)
    const file = join(dir, 'unseen.txt')
    writeFileSync(file, `t unit a b\n${machine(99, 240).join('\n')}\n`)
    const lines = await replay(file, { format: 'scores', timestampColumn: 't', deviceColumn: 'unit', history })
    const rows = lines.slice(1).map((l) => l.split(','))
    expect(rows.length).toBe(240)
    expect(rows.every((row) => row[1] === 'm99')).toBe(true)
    const late = rows.slice(200).filter((row) => row[3] !== '')
    expect(late.length).toBe(40)
    for (const row of late) {
      const [life, low, high] = [Number(row[3]), Number(row[4]), Number(row[5])]
      expect(low).toBeLessThanOrEqual(life)
      expect(life).toBeLessThanOrEqual(high)
      expect(life).toBeLessThan(100)
    }
  })

  it('reports bad cells and bad timestamps on stderr and keeps the column', async () => {
    const vals = series(3000, 2500, 6)
    const file = join(dir, 'dirty.csv')
    const body = vals.map((v, i) => `${i === 10 || i === 20 ? 'garbage' : stamp(i)},${i % 100 === 7 ? 'n/a' : v.toFixed(3)}`).join('\n')
    writeFileSync(file, `timestamp,value\n${body}\n`)
    const { lines, err } = await replayWithErr(file, { format: 'nab' })
    expect(lines.length).toBe(3001)
    expect(lines[11]).toMatch(/^garbage,/)
    expect(err).toContain('30 bad cells in 1 of 1 metric columns across 3000 rows (value: 30)')
    expect(err).toContain('2 of 3000 rows have an unparseable timestamp (first at data row 11)')
    const alarms = lines.slice(1).map((l, i) => [i, Number(l.split(',')[2])] as const).filter(([, s]) => s >= 0.5).map(([i]) => i)
    expect(alarms).toEqual([2500])
  })

  it('refuses a --history that lacks a metric of the replayed file, naming it', async () => {
    const file = join(dir, 'two.csv')
    writeFileSync(file, 'timestamp,a,b\n1,1,2\n2,1,2\n')
    const history = join(dir, 'one.csv')
    writeFileSync(history, 'timestamp,a\n1,1\n')
    await expect(replay(file, { format: 'scores', history })).rejects.toThrow(/has no column "b"/)
  })
})

describe('CSV helpers', () => {
  it('splits quoted cells', () => {
    expect(splitCsvLine('a,"b,c","d ""e"""')).toEqual(['a', 'b,c', 'd "e"'])
  })
  it('parses common timestamp forms as UTC', () => {
    expect(parseTimestamp('2014-04-01 00:05:00')).toBe(Date.UTC(2014, 3, 1, 0, 5))
    expect(parseTimestamp('2014-04-01T00:05:00+01:00')).toBe(Date.UTC(2014, 3, 1, 0, 5) - 3_600_000)
    expect(parseTimestamp('1396310700')).toBe(1396310700000)
    expect(Number.isNaN(parseTimestamp('soon'))).toBe(true)
  })
})

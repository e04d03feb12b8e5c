import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { parseTimestamp, runReplay, splitCsvLine } from '../../cli/replay.ts'
import { rng } from '../../simulators/appliance.ts'

const dir = mkdtempSync(join(tmpdir(), 'forewarn-replay-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function replay(file: string, o: { deviceColumn?: string; timestampColumn?: string; format: 'jsonl' | 'nab' }): Promise<string[]> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  await runReplay({ file, ...o }, out)
  return Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== '')
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

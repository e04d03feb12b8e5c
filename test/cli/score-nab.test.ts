import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { scaledSigmoid, scoreNab, scoreNabFile, scoreNabHeldOut, totalNab } from '../../cli/score-nab.ts'

const dir = mkdtempSync(join(tmpdir(), 'forewarn-score-nab-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const MIN = 60_000
const T0 = Date.UTC(2014, 3, 1)
const times = Array.from({ length: 100 }, (_, i) => T0 + i * MIN)
const stamp = (i: number): string => new Date(T0 + i * MIN).toISOString().replace('T', ' ').slice(0, 19)
/** Windows on rows 40–49 and 70–79 (inclusive). */
const windows = [[T0 + 40 * MIN, T0 + 49 * MIN], [T0 + 70 * MIN, T0 + 79 * MIN]] as const

function detections(rows: number[]): boolean[] {
  const d = new Array<boolean>(100).fill(false)
  for (const r of rows) d[r] = true
  return d
}

describe('NAB standard-profile scoring', () => {
  it('uses NAB\'s scaled sigmoid: 0.98661 at a window\'s left edge, 0 at its right edge, −1 from 3 widths past', () => {
    expect(scaledSigmoid(-1)).toBeCloseTo(0.98661, 5)
    expect(scaledSigmoid(-0.5)).toBeCloseTo(0.84828, 5)
    expect(scaledSigmoid(0)).toBe(0)
    expect(scaledSigmoid(1)).toBeCloseTo(-0.98661, 5)
    expect(scaledSigmoid(3)).toBe(-1)
  })

  it('scores the first detection in a window, weighs false positives by distance, charges a missed window −1, ignores probation', () => {
    // Row 5: probation (first 15 rows) — ignored. Row 20: before any window — −0.11.
    // Row 40: left edge of window 1 — +1.0; row 45: a later detection in it — adds nothing.
    // Row 59: 10 rows past window 1's end, width − 1 = 9 — 0.11 × σ(10/9) = −0.10915.
    // Window 2: no detection — −1.
    const s = scoreNabFile('f.csv', times, detections([5, 20, 40, 45, 59]), windows)
    expect(s).toMatchObject({ rows: 100, windows: 2, scoredWindows: 2, tp: 1, fn: 1, fp: 2, nullScore: -2 })
    expect(s.score).toBeCloseTo(1 - 0.11 - 0.10915277 - 1, 6)
    const t = totalNab([s], 0.5, 0, [])
    expect(t.perfect).toBe(2)
    expect(t.score).toBeCloseTo(100 * (s.score + 2) / 4, 6)
    expect(t.score).toBeCloseTo(44.5212, 3)
  })

  it('credits a detection on a window\'s last row with σ(−1/width)/σ(−1), and a perfect detector with 100', () => {
    expect(scoreNabFile('f.csv', times, detections([49]), windows.slice(0, 1)).score).toBeCloseTo(0.248242, 5)
    const perfect = scoreNabFile('f.csv', times, detections([40, 70]), windows)
    expect(totalNab([perfect], 0.5, 0, []).score).toBeCloseTo(100, 9)
    expect(totalNab([scoreNabFile('f.csv', times, detections([]), windows)], 0.5, 0, []).score).toBe(0)
  })

  it('does not score a window that ends inside the probation period, but counts it in the perfect score (as NAB does)', () => {
    const early = [[T0 + 2 * MIN, T0 + 8 * MIN]] as const
    const s = scoreNabFile('f.csv', times, detections([3]), early)
    expect(s).toMatchObject({ windows: 1, scoredWindows: 0, tp: 0, fn: 0, fp: 0, score: 0, nullScore: 0 })
  })

  it('scores NAB results tables found under a NAB-layout folder, counting only the files present', async () => {
    const data = join(dir, 'nab')
    mkdirSync(join(data, 'data', 'cat'), { recursive: true })
    mkdirSync(join(data, 'labels'), { recursive: true })
    mkdirSync(join(dir, 'results', 'cat'), { recursive: true })
    const fmt = (i: number): string => `${stamp(i)}.000000`
    writeFileSync(join(data, 'labels', 'combined_windows.json'), JSON.stringify({
      'cat/a.csv': [[fmt(40), fmt(49)], [fmt(70), fmt(79)]],
      'cat/absent.csv': [[fmt(10), fmt(20)]],
    }))
    writeFileSync(join(data, 'data', 'cat', 'a.csv'), `timestamp,value\n${times.map((_, i) => `${stamp(i)},1`).join('\n')}\n`)
    writeFileSync(join(data, 'data', 'cat', 'unlabelled.csv'), 'timestamp,value\n')
    const scores = detections([5, 20, 40, 45, 59])
    writeFileSync(join(dir, 'results', 'cat', 'a.csv'),
      `timestamp,value,anomaly_score\n${times.map((_, i) => `${stamp(i)},1,${scores[i] ? '0.5000' : '0.4999'}`).join('\n')}\n`)
    const t = await scoreNab({ data, results: join(dir, 'results') })
    expect(t.files.map((f) => [f.file, f.tp, f.fn, f.fp])).toEqual([['cat/a.csv', 1, 1, 2]])
    expect(t.missing).toBe(1)
    expect(t.unlabelled).toEqual(['cat/unlabelled.csv'])
    expect(t.score).toBeCloseTo(44.5212, 3)
  })

  it('held out: scores each file with the setting chosen on the other files, and prices the settings on stationary noise', async () => {
    const data = join(dir, 'nab-held-out')
    mkdirSync(join(data, 'data', 'cat'), { recursive: true })
    mkdirSync(join(data, 'labels'), { recursive: true })
    const n = 1000
    const at = (i: number): string => new Date(T0 + i * MIN).toISOString().replace('T', ' ').slice(0, 19)
    // Two files, each a periodic level that steps up by 10 at row 700, inside a labelled window
    // (deterministic: the test is about the choice, not about noise).
    for (const [f, phase] of [['a', 0], ['b', 1]] as const) {
      writeFileSync(join(data, 'data', 'cat', `${f}.csv`), `timestamp,value\n${Array.from({ length: n }, (_, i) => `${at(i)},${(50 + Math.sin(i / 3 + phase) + (i >= 700 ? 10 : 0)).toFixed(3)}`).join('\n')}\n`)
    }
    const window = [`${at(690)}.000000`, `${at(760)}.000000`]
    writeFileSync(join(data, 'labels', 'combined_windows.json'), JSON.stringify({ 'cat/a.csv': [window], 'cat/b.csv': [window] }))
    // A setting that never warns is listed first: each file's choice must come from the other file's score.
    const deaf = { singleMetricMargin: 1e9 }
    const normal = { singleMetricMargin: 1.5 }
    const h = await scoreNabHeldOut({ data }, [deaf, normal])
    expect(h.chosen).toEqual([{ file: 'cat/a.csv', setting: normal }, { file: 'cat/b.csv', setting: normal }])
    expect(h.total.files.map((f) => [f.file, f.tp, f.fn])).toEqual([['cat/a.csv', 1, 0], ['cat/b.csv', 1, 0]])
    // The first setting of the grid is priced too, and a deaf engine raises nothing on noise.
    expect(h.stationary[0]!.setting).toBe(deaf)
    expect(Object.values(h.stationary[0]!.warnings)).toEqual([0, 0, 0, 0, 0])
    expect(Object.keys(h.stationary[1]!.warnings)).toEqual(['ar(1) 0', 'ar(1) 0.5', 'ar(1) 0.9', 'ar(1) 0.98', 'student-t 3'])
  }, 60_000)
})

/**
 * Operating modes in front of the engine (detectors/modes.ts): distinct operating conditions are
 * found in a device's first rows, and wear is judged against the condition the row was taken in.
 */
import { describe, expect, it } from 'vitest'
import { createEngine, type Engine } from '../../detectors/engine.ts'
import { fitModes, MODE_ROWS, NEW_MODE_ROWS } from '../../detectors/modes.ts'
import { learnReference } from '../../detectors/engine-fleet.ts'
import { rng } from '../../simulators/appliance.ts'

const HOUR = 3_600_000

function gauss(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(Math.max(1e-12, r()))) * Math.cos(2 * Math.PI * r())
}

/** Three operating conditions, each moving all five metrics far more than their noise; chosen at random per row. */
const CONDITIONS = [[100, 20, 500, 3, 60], [140, 35, 620, 5, 90], [80, 10, 450, 2, 40]]

/** `n` rows switching between the conditions; from `wearFrom` on, metric 0 wears upward by `wearPerRow` noise spreads a row. */
function machine(n: number, seed: number, wearFrom = Number.POSITIVE_INFINITY, wearPerRow = 0): number[][] {
  const r = rng(seed)
  const g = gauss(r)
  return Array.from({ length: n }, (_, i) => {
    const c = CONDITIONS[Math.floor(r() * CONDITIONS.length)]!
    const wear = i >= wearFrom ? (i - wearFrom) * wearPerRow : 0
    return c.map((v, j) => v + g() * (j === 0 ? 1 : 0.5) + (j === 0 ? wear : 0))
  })
}

function firstWarning(engine: Engine, rows: number[][], id = 'm'): number {
  let first = -1
  rows.forEach((row, i) => {
    const res = engine.process(id, row, i * HOUR)
    if (res.warning && first < 0) first = i
  })
  return first
}

/** Scores of one engine over all `rows`, and of one snapshotted after `cut` rows and restored into another. */
function resumedAt(rows: number[][], cut: number): { scores: number[]; resumed: number[]; snap: string } {
  const whole = createEngine({ warmupRows: 150 })
  const first = createEngine({ warmupRows: 150 })
  const scores: number[] = []
  const resumed: number[] = []
  rows.forEach((row, i) => scores.push(whole.process('m', row, i * HOUR).score))
  rows.slice(0, cut).forEach((row, i) => resumed.push(first.process('m', row, i * HOUR).score))
  const snap = first.snapshot('m')!
  const second = createEngine({ warmupRows: 150 })
  second.restore('m', snap)
  rows.slice(cut).forEach((row, i) => resumed.push(second.process('m', row, (cut + i) * HOUR).score))
  return { scores, resumed, snap }
}

describe('operating modes', () => {
  it('finds distinct operating conditions, and none in noise, a random walk or one metric', () => {
    const three = fitModes(machine(60, 1), 5)
    expect(three?.centres.length).toBe(3)
    for (const c of three!.centres) expect(CONDITIONS.some((k) => k.every((v, j) => Math.abs(v - c[j]!) < 1.5))).toBe(true)
    for (let seed = 1; seed <= 20; seed++) {
      const g = gauss(rng(seed))
      expect(fitModes(Array.from({ length: MODE_ROWS }, () => Array.from({ length: 8 }, () => g())), 8), `noise ${seed}`).toBeNull()
      let walk = 0
      expect(fitModes(Array.from({ length: MODE_ROWS }, () => [walk += g(), g(), g()]), 3), `walk ${seed}`).toBeNull()
    }
    expect(fitModes(machine(60, 2).map((r) => [r[0]!]), 1)).toBeNull()
  })

  it('sees slow wear on a machine that switches between operating conditions, which one frozen baseline over the mixture misses', () => {
    let caught = 0
    let missedWithout = 0
    for (let seed = 1; seed <= 5; seed++) {
      // Wear from row 400: 0.03 noise spreads a row, 18 by row 1000; the conditions are 20–40 apart.
      const rows = machine(1000, seed, 400, 0.03)
      const withModes = firstWarning(createEngine({ warmupRows: 150 }), rows)
      const without = firstWarning(createEngine({ warmupRows: 150 }, { modes: false }), rows)
      if (withModes >= 400) caught++
      // Without modes: no warning, or one only when the wear has grown past the conditions' spread.
      if (without < 0 || without > withModes + 200) missedWithout++
      expect(withModes < 0 || withModes >= 400, `seed ${seed}: no warning before the wear`).toBe(true)
    }
    expect(caught).toBe(5)
    expect(missedWithout).toBe(5)
  })

  it('stays quiet on a healthy machine switching between conditions', () => {
    for (let seed = 11; seed <= 15; seed++) expect(firstWarning(createEngine({ warmupRows: 150 }), machine(3000, seed)), `seed ${seed}`).toBe(-1)
  })

  it('names the metric that moved with its value and the baseline of the condition the row was in', () => {
    const rows = machine(800, 3, 300, 0.02)
    const engine = createEngine({ warmupRows: 150 })
    let moved: { metric: number; value: number; baseline: number }[] = []
    let at = -1
    rows.forEach((row, i) => {
      const res = engine.process('m', row, i * HOUR)
      if (res.warning && at < 0) { at = i; moved = res.warning.moved }
    })
    expect(at).toBeGreaterThan(300)
    expect(moved[0]?.metric).toBe(0)
    expect(moved[0]?.value).toBe(rows[at]![0])
    // The baseline is the level of metric 0 in the row's own condition, not the mixture's mean.
    expect(CONDITIONS.some((c) => Math.abs(c[0]! - moved[0]!.baseline) < 1.5)).toBe(true)
  })

  it('gives exactly the frozen-baseline engine\'s results when the first rows show no operating modes', () => {
    const g = gauss(rng(7))
    const rows = Array.from({ length: 1500 }, (_, i) => [50 + g() + (i > 900 ? (i - 900) * 0.01 : 0), 10 + g(), 20 + g()])
    const a = createEngine({ warmupRows: 150 })
    const b = createEngine({ warmupRows: 150 }, { modes: false })
    rows.forEach((row, i) => {
      const ra = a.process('m', row, i * HOUR)
      const rb = b.process('m', row, i * HOUR)
      expect([ra.score, ra.health, ra.warning?.episode ?? 0]).toEqual([rb.score, rb.health, rb.warning?.episode ?? 0])
    })
  })

  it('a snapshot taken while the first rows are held, or after the modes are fitted, restores to the same results', () => {
    const rows = machine(900, 4, 400, 0.01)
    for (const cut of [30, 200]) {
      const { scores, resumed } = resumedAt(rows, cut)
      expect(resumed, `cut at ${cut}`).toEqual(scores)
    }
  })

  it('keeps the frozen state of an 8-metric device with modes under 4 KiB', () => {
    const r = rng(9)
    const g = gauss(r)
    const engine = createEngine({ warmupRows: 150 })
    for (let i = 0; i < 300; i++) {
      const c = Math.floor(r() * 4)
      engine.process('m', Array.from({ length: 8 }, (_, j) => 100 * c + 10 * j + g()), i * HOUR)
    }
    const snap = JSON.parse(engine.snapshot('m')!) as { modes: { modes: { centres: number[][] } | null; inner: string } }
    expect(snap.modes.modes?.centres.length).toBe(4)
    const numbers = (JSON.stringify(snap).match(/-?\d+(\.\d+)?(e-?\d+)?/g) ?? []).length
    expect(numbers * 8).toBeLessThan(4096)
    // The most it holds: MAX_MODES − 1 modes, and NEW_MODE_ROWS − 1 far rows of a new condition waiting.
    const most = createEngine({ warmupRows: 150 })
    let i = 0
    for (; i < 300; i++) most.process('m', Array.from({ length: 8 }, (_, j) => 100 * (i % 7) + 10 * j * (i % 7) + g()), i * HOUR)
    for (let k = 0; k < NEW_MODE_ROWS - 1; k++, i++) {
      most.process('m', Array.from({ length: 8 }, () => 5000 + g()), i * HOUR)
      most.process('m', Array.from({ length: 8 }, () => g()), ++i * HOUR)
    }
    const full = JSON.parse(most.snapshot('m')!) as { modes: { modes: { centres: number[][] }; pending: unknown[] } }
    expect([full.modes.modes.centres.length, full.modes.pending.length]).toEqual([7, NEW_MODE_ROWS - 1])
    expect((JSON.stringify(full).match(/-?\d+(\.\d+)?(e-?\d+)?/g) ?? []).length * 8).toBeLessThan(4096)
  })
})

/**
 * Two conditions of different noise: condition 0 quiet (spread 0.2), condition 1 noisy (spread 2),
 * each moving all four metrics far more than either. From `faultFrom` on, metric 0 of the quiet
 * condition's rows only is `fault` higher.
 */
function quietAndNoisy(n: number, seed: number, faultFrom = Number.POSITIVE_INFINITY, fault = 0): number[][] {
  const r = rng(seed)
  const g = gauss(r)
  return Array.from({ length: n }, (_, i) => {
    const c = r() < 0.5 ? 0 : 1
    const spread = c === 0 ? 0.2 : 2
    return [50, 20, 80, 30].map((v, j) => v + 100 * c * (j + 1) + spread * g() + (c === 0 && j === 0 && i >= faultFrom ? fault : 0))
  })
}

describe('operating modes of different noise', () => {
  it('weighs each mode\'s differences by the pooled spread over its own, and by 1 when the modes are as noisy', () => {
    const m = fitModes(quietAndNoisy(64, 1), 4)!
    expect(m.centres.length).toBe(2)
    const quiet = m.centres[0]![0]! < 100 ? 0 : 1
    // True ratios: pooled spread √((0.04 + 4) / 2) ≈ 1.42; quiet 1.42 / 0.2 ≈ 7, noisy 0.71.
    expect(m.gain![quiet]).toBeGreaterThan(3)
    expect(m.gain![1 - quiet]).toBeLessThan(0.9)
    // Equally noisy conditions: the modes' factors scatter no more than sampling explains; gains stay near 1.
    for (let seed = 1; seed <= 10; seed++) {
      const same = fitModes(machine(64, seed).map((r) => r.slice(1)), 4)!
      for (const g of same.gain!) expect(Math.abs(g - 1), `seed ${seed}`).toBeLessThan(0.2)
    }
  })

  it('sees a fault in a quiet condition that the noisy condition\'s spread would hide', () => {
    for (let seed = 1; seed <= 5; seed++) {
      // 8 of the quiet condition's spreads, 1.1 pooled spreads, in half of the rows.
      const rows = quietAndNoisy(1200, seed, 600, 1.6)
      const at = firstWarning(createEngine({ warmupRows: 150 }), rows)
      expect(at, `seed ${seed}`).toBeGreaterThanOrEqual(600)
      expect(at, `seed ${seed}`).toBeLessThan(700)
    }
  })
})

/** A fourth condition, far from the three of `machine`. */
const FOURTH = [120, 50, 550, 8, 75]

/** `machine`, but the fourth condition joins the others from row `from` on (never in the first rows). */
function machineWithLateCondition(n: number, seed: number, from: number, wearFrom = Number.POSITIVE_INFINITY, wearPerRow = 0): number[][] {
  const r = rng(seed)
  const g = gauss(r)
  return Array.from({ length: n }, (_, i) => {
    const k = Math.floor(r() * (i >= from ? 4 : 3))
    const c = k === 3 ? FOURTH : CONDITIONS[k]!
    const wear = i >= wearFrom ? (i - wearFrom) * wearPerRow : 0
    return c.map((v, j) => v + g() * (j === 0 ? 1 : 0.5) + (j === 0 ? wear : 0))
  })
}

describe('a condition first met while watching', () => {
  it('becomes a mode of its own: no warning on a healthy machine, and wear is still seen after it', () => {
    for (let seed = 1; seed <= 5; seed++) {
      expect(firstWarning(createEngine({ warmupRows: 150 }), machineWithLateCondition(2000, seed, 300)), `healthy, seed ${seed}`).toBe(-1)
      const worn = firstWarning(createEngine({ warmupRows: 150 }), machineWithLateCondition(1200, seed, 300, 700, 0.03))
      expect(worn, `worn, seed ${seed}`).toBeGreaterThanOrEqual(700)
    }
  })

  it('never hides a large abrupt fault that moves every row away, whether it stays or keeps moving', () => {
    for (let seed = 1; seed <= 5; seed++) {
      for (const growth of [0, 0.5]) {
        // From row 500 metric 3 (spread 0.5) is 10 higher, 20 spreads, and grows by `growth` a row.
        const rows = machine(700, seed).map((row, i) => row.map((v, j) => v + (j === 3 && i >= 500 ? 10 + growth * (i - 500) : 0)))
        const at = firstWarning(createEngine({ warmupRows: 150 }), rows)
        expect(at, `seed ${seed}, growth ${growth}`).toBeGreaterThanOrEqual(500)
        expect(at, `seed ${seed}, growth ${growth}`).toBeLessThan(500 + NEW_MODE_ROWS)
      }
      // The machine stays in one condition from row 450, and from row 500 every row is 10 higher in
      // metric 3 and stays there: the far rows sit together, but no row near a known mode came between.
      const g = gauss(rng(200 + seed))
      const stay = machine(700, seed).map((row, i) => (i < 450 ? row : CONDITIONS[0]!.map((v, j) => v + g() * (j === 0 ? 1 : 0.5) + (j === 3 && i >= 500 ? 10 : 0))))
      const at = firstWarning(createEngine({ warmupRows: 150 }), stay)
      expect(at, `seed ${seed}, one condition`).toBeGreaterThanOrEqual(500)
      expect(at, `seed ${seed}, one condition`).toBeLessThan(500 + NEW_MODE_ROWS)
    }
  })

  it('warns when rows far from every mode never sit together, even while the machine keeps visiting its modes', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const r = rng(100 + seed)
      // From row 500 every fourth row is thrown far from every condition, each to a different place.
      const rows = machine(800, seed).map((row, i) => (i >= 500 && i % 4 === 0 ? row.map((v, j) => (j === 3 ? v + 10 + 40 * r() : v)) : row))
      const at = firstWarning(createEngine({ warmupRows: 150 }), rows)
      expect(at, `seed ${seed}`).toBeGreaterThanOrEqual(500)
      expect(at, `seed ${seed}`).toBeLessThan(500 + 4 * NEW_MODE_ROWS)
    }
  })

  it('a snapshot taken while far rows are held restores to the same results', () => {
    const rows = machineWithLateCondition(900, 6, 300, 600, 0.03)
    // The first held far row of the fourth condition, and one a few rows later.
    const firstFar = rows.findIndex((row, i) => i >= 300 && row[3]! > 7)
    for (const cut of [firstFar + 1, firstFar + 12]) {
      const { scores, resumed, snap } = resumedAt(rows, cut)
      if (cut === firstFar + 1) expect((JSON.parse(snap) as { modes: { pending: unknown[] } }).modes.pending.length).toBe(1)
      expect(resumed, `cut at ${cut}`).toEqual(scores)
    }
  })
})

describe('a reference learnt with operating modes', () => {
  it('watches a new device of the type per mode from its first row', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const reference = learnReference({ rows: machine(600, 20 + seed), timesMs: Array.from({ length: 600 }, (_, i) => i * HOUR) })
      expect(reference.modes?.centres.length, `seed ${seed}`).toBe(3)
      // Healthy: quiet. A step of 6 noise spreads in metric 0 from row 40, inside its own warm-up: seen there.
      expect(firstWarning(createEngine({ warmupRows: 150 }, { reference }), machine(1500, seed)), `healthy, seed ${seed}`).toBe(-1)
      const step = machine(150, seed).map((row, i) => row.map((v, j) => v + (j === 0 && i >= 40 ? 6 : 0)))
      const at = firstWarning(createEngine({ warmupRows: 150 }, { reference }), step)
      expect(at, `step, seed ${seed}`).toBeGreaterThanOrEqual(40)
      expect(at, `step, seed ${seed}`).toBeLessThan(80)
    }
  })
})

describe('operating modes, edges', () => {
  it('a device whose number of metrics changes is passed through afresh, and a device with modes gives its baseline with them', () => {
    const engine = createEngine({ warmupRows: 150 })
    const rows = machine(300, 5)
    rows.forEach((row, i) => engine.process('m', row, i * HOUR))
    expect(engine.baseline('m')?.modes?.centres.length).toBe(3)
    const r = engine.process('m', [1, 2, 3], 300 * HOUR)
    expect([r.score, r.warning]).toEqual([0, null])
    const plain = createEngine({ warmupRows: 150 })
    const g = gauss(rng(8))
    for (let i = 0; i < 200; i++) plain.process('p', [50 + g(), 10 + g()], i * HOUR)
    expect(plain.baseline('p')?.d).toBe(2)
  })
})

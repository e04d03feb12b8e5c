import { describe, expect, it } from 'vitest'
import { createEngine, tailLevel, type Engine, type EngineResult } from '../../detectors/engine.ts'
import { failureModelFrom, learnFailureModel, learnReference } from '../../detectors/engine-fleet.ts'
import { rng } from '../../simulators/appliance.ts'

const MIN = 60_000

/** A standard normal from a seeded uniform source (Box–Muller). */
function gauss(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(Math.max(1e-12, r()))) * Math.cos(2 * Math.PI * r())
}

/** Runs rows through one device; returns every result (copied) and the rows that started a warning. */
function run(engine: Engine, rows: number[][], id = 'm'): { results: EngineResult[]; warnings: number[] } {
  const results: EngineResult[] = []
  const warnings: number[] = []
  rows.forEach((row, i) => {
    const res = engine.process(id, row, i * MIN)
    results.push({ ...res, deviation: null })
    if (res.warning) warnings.push(i)
  })
  return { results, warnings }
}

/** Three independent noisy metrics around 50, 10 and 230. */
function steady(n: number, seed: number): number[][] {
  const g = gauss(rng(seed))
  return Array.from({ length: n }, () => [50 + g(), 10 + 0.2 * g(), 230 + 2 * g()])
}

describe('detection engine', () => {
  it('stays quiet on stationary noise after its warm-up', () => {
    const { warnings } = run(createEngine({ warmupRows: 300 }), steady(3000, 1))
    expect(warnings).toEqual([])
  })

  it('sees a slow drift against its frozen baseline (a baseline that followed the data would not)', () => {
    const rows = steady(3000, 2)
    // From row 1000, the first metric drifts by 3 spreads over 2000 rows: 0.0015 spreads a row.
    rows.forEach((r, i) => { if (i >= 1000) r[0]! += (3 * (i - 1000)) / 2000 })
    const { warnings, results } = run(createEngine({ warmupRows: 300 }), rows)
    expect(warnings.length).toBe(1)
    expect(warnings[0]!).toBeGreaterThan(1000)
    const w = results[warnings[0]!]!.warning!
    expect(w.cause).toBe('drift')
    expect(w.moved[0]!.metric).toBe(0)
    expect(w.moved[0]!.spreads).toBeGreaterThan(0)
  })

  it('fits the tail of calibration values: the level an exponential sample exceeds with probability q', () => {
    const r = rng(11)
    const values = Array.from({ length: 4000 }, () => -Math.log(Math.max(1e-12, r())))
    // Exponential(1): P(X > x) = e^−x, so the 1e-4 level is ln(10⁴) ≈ 9.2.
    expect(tailLevel(values, 1e-4)).toBeGreaterThan(8)
    expect(tailLevel(values, 1e-4)).toBeLessThan(10.5)
    expect(tailLevel([1, 3, 2], 1e-6)).toBe(3)
  })

  it('on one spiky metric, keeps spikes like the warm-up\'s quiet and catches a sustained shift smaller than them', () => {
    const g = gauss(rng(12))
    const r = rng(13)
    // A spike of 12 spreads about every 150 rows, all along; from row 3000, the level rises by 4 spreads.
    const rows = Array.from({ length: 3400 }, (_, i) => [100 + g() + (r() < 1 / 150 ? 12 : 0) + (i >= 3000 ? 4 : 0)])
    const { warnings } = run(createEngine({ warmupRows: 600 }), rows)
    expect(warnings.length).toBeGreaterThan(0)
    expect(warnings[0]!).toBeGreaterThanOrEqual(3000)
    expect(warnings[0]!).toBeLessThan(3030)
  })

  it('catches an abrupt shift within a few rows and names the metric that moved', () => {
    const rows = steady(1500, 3)
    rows.forEach((r, i) => { if (i >= 1000) r[2]! -= 20 })
    const { warnings, results } = run(createEngine({ warmupRows: 300 }), rows)
    expect(warnings[0]!).toBeGreaterThanOrEqual(1000)
    expect(warnings[0]!).toBeLessThan(1010)
    const w = results[warnings[0]!]!.warning!
    expect(w.moved[0]!.metric).toBe(2)
    expect(w.moved[0]!.value - w.moved[0]!.baseline).toBeLessThan(-10)
  })

  it('sees two sensors stop moving together while each stays inside its own normal range', () => {
    const g = gauss(rng(4))
    let x = 0
    const rows = Array.from({ length: 3000 }, (_, i) => {
      x = 0.98 * x + 0.4 * g() // a wandering load, spread ≈ 2
      const y = x + 0.05 * g() + (i >= 2000 ? 1.5 : 0) // follows x until it decouples by 0.75 of its spread
      return [100 + x, 100 + y]
    })
    const engine = createEngine({ warmupRows: 1000, perMetric: false })
    const { warnings } = run(engine, rows)
    expect(warnings.length).toBeGreaterThan(0)
    expect(warnings[0]!).toBeGreaterThanOrEqual(2000)
    expect(warnings[0]!).toBeLessThan(2100)
    // The same offset judged metric by metric is lost in y's own spread.
    const sdY = Math.sqrt(rows.slice(0, 1000).reduce((a, r) => a + (r[1]! - 100) ** 2, 0) / 1000)
    expect(1.5 / sdY).toBeLessThan(1)
  })

  it('relearns its baseline only after a long stable stretch following a warning, or on a reset', () => {
    const rows = steady(4000, 5)
    rows.forEach((r, i) => { if (i >= 1000) r[0]! += 8 }) // a new level that stays
    const engine = createEngine({ warmupRows: 300, rebaselineRows: 600 })
    const { warnings, results } = run(engine, rows)
    expect(warnings.length).toBe(1)
    expect(warnings[0]!).toBeGreaterThanOrEqual(1000)
    expect(warnings[0]!).toBeLessThan(1005)
    const cleared = results.findIndex((r) => r.cleared)
    // 600 rows without a new high (by 10 %) of the health index, then a fresh warm-up on the new level.
    expect(cleared).toBeGreaterThan(1600)
    expect(cleared).toBeLessThan(2000)
    expect(engine.baseline('m')!.mean[0]!).toBeGreaterThan(57)

    // Wear that keeps growing sets new highs: no relearning, the warning stays.
    const wear = steady(3000, 6)
    wear.forEach((r, i) => { if (i >= 1000) r[0]! += 0.01 * (i - 1000) })
    const worn = run(createEngine({ warmupRows: 300, rebaselineRows: 300 }), wear)
    expect(worn.warnings.length).toBe(1)
    expect(worn.results.some((r) => r.cleared)).toBe(false)

    // A repair: the next rows are the new normal.
    const fixed = createEngine({ warmupRows: 300 })
    run(fixed, steady(1000, 7))
    fixed.reset('m')
    expect(fixed.baseline('m')).toBeUndefined()
    const after = run(fixed, steady(1000, 8).map((r) => [r[0]! + 8, r[1]!, r[2]!]))
    expect(after.warnings).toEqual([])
    expect(fixed.baseline('m')!.mean[0]!).toBeGreaterThan(57)
  })

  it('resumes from a snapshot exactly where it was, in warm-up and when watching', () => {
    const rows = steady(2000, 9)
    rows.forEach((r, i) => { if (i >= 1500) r[1]! += 0.002 * (i - 1500) })
    for (const cut of [150, 900]) {
      const a = createEngine({ warmupRows: 300 })
      const b = createEngine({ warmupRows: 300 })
      rows.slice(0, cut).forEach((r, i) => a.process('m', r, i * MIN))
      b.restore('m', a.snapshot('m')!)
      for (let i = cut; i < rows.length; i++) {
        const ra = a.process('m', rows[i]!, i * MIN)
        const rb = b.process('m', rows[i]!, i * MIN)
        expect(rb.score).toBe(ra.score)
        expect(rb.warning).toEqual(ra.warning)
      }
    }
  })

  it('resumes a single-metric device mid-calibration with the same threshold (its calibration values are in the snapshot)', () => {
    const g = gauss(rng(21))
    // Cut at row 250: inside the calibration half of a 300-row warm-up.
    const rows = Array.from({ length: 1500 }, (_, i) => [20 + g() + (i >= 1200 ? 5 : 0)])
    const a = createEngine({ warmupRows: 300 })
    const b = createEngine({ warmupRows: 300 })
    rows.slice(0, 250).forEach((r, i) => a.process('s', r, i * MIN))
    b.restore('s', a.snapshot('s')!)
    for (let i = 250; i < rows.length; i++) {
      const ra = a.process('s', rows[i]!, i * MIN)
      const rb = b.process('s', rows[i]!, i * MIN)
      expect(rb.score).toBe(ra.score)
      expect(rb.warning).toEqual(ra.warning)
    }
    expect(b.baseline('s')!.shiftThreshold).toBe(a.baseline('s')!.shiftThreshold)
  })

  it('keeps an 8-metric device under 4 KiB once its baseline is frozen', () => {
    const engine = createEngine({ warmupRows: 200 })
    const g = gauss(rng(10))
    for (let i = 0; i < 400; i++) engine.process('m', Array.from({ length: 8 }, (_, k) => 10 * k + g()), i * MIN)
    // Numbers as 8-byte floats: the snapshot's numeric content is the state's size.
    const numbers = (engine.snapshot('m')!.match(/-?\d[\d.e+-]*/g) ?? []).length
    expect(numbers * 8).toBeLessThan(4096)
  })

  it('estimates remaining life from the health index trend, with an interval around it', () => {
    const rows = steady(3000, 11)
    rows.forEach((r, i) => { if (i >= 1000) r[0]! += 0.01 * (i - 1000) })
    const { results } = run(createEngine({ warmupRows: 300 }), rows)
    const lives = results.slice(1500).map((r) => r.remainingLife).filter((l) => l !== null)
    expect(lives.length).toBeGreaterThan(100)
    for (const l of lives) {
      expect(l.lowMs).toBeLessThanOrEqual(l.lifeMs)
      expect(l.lifeMs).toBeLessThanOrEqual(l.highMs)
    }
  })
})

describe('learning from the fleet', () => {
  it('a reference model watches a new device from its first row', () => {
    const reference = learnReference({ rows: steady(2000, 12), timesMs: Array.from({ length: 2000 }, (_, i) => i * MIN) })
    const engine = createEngine({ warmupRows: 300 }, { reference })
    const rows = steady(200, 13)
    rows.forEach((r, i) => { if (i >= 50) r[2]! -= 20 })
    const { warnings } = run(engine, rows)
    expect(warnings[0]).toBeGreaterThanOrEqual(50)
    expect(warnings[0]).toBeLessThan(60)
    expect(run(createEngine({ warmupRows: 300 }), rows, 'other').warnings).toEqual([])
  })

  it('a failure model learnt from run-to-failure histories estimates remaining life of an unseen device', () => {
    const H = 3_600_000
    /** A machine whose second metric wears toward failure after a healthy start; fails at `life`. */
    const machine = (life: number, seed: number): { rows: number[][]; timesMs: number[] } => {
      const g = gauss(rng(seed))
      const rows = Array.from({ length: life }, (_, t) => {
        const wear = Math.max(0, t - 0.4 * life) / (0.6 * life)
        return [20 + g(), 5 + 0.3 * g() + 4 * wear ** 1.5]
      })
      return { rows, timesMs: rows.map((_, t) => t * H) }
    }
    const model = learnFailureModel(Array.from({ length: 20 }, (_, k) => machine(200 + 10 * k, 100 + k)))
    const unseen = machine(260, 999)
    const engine = createEngine({ warmupRows: 40 }, { failure: model })
    const errors: number[] = []
    unseen.rows.forEach((r, t) => {
      const res = engine.process('u', r, unseen.timesMs[t]!)
      const truth = Math.min(model.capMs, (unseen.rows.length - 1 - t) * H)
      if (t > 150 && res.remainingLife) errors.push((res.remainingLife.lifeMs - truth) / H)
    })
    expect(errors.length).toBeGreaterThan(100)
    // The model is plain data: through JSON and back it gives the same estimates.
    const again = failureModelFrom(JSON.parse(JSON.stringify(model)) as Parameters<typeof failureModelFrom>[0])
    const z = [0.5, 3, 0.2, -1]
    expect(again.estimate(z.slice(0, model.d))).toEqual(model.estimate(z.slice(0, model.d)))
    const rmse = Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / errors.length)
    // Guessing the mean life left for every row would be off by about 60 hours here.
    expect(rmse).toBeLessThan(30)
  })

  it("a failure model's estimate is its nearest history rows' mean life, kept inside their 10th – 90th percentiles", () => {
    const H = 3_600_000
    const model = (lives: number[]) => failureModelFrom({ devices: 2, rows: lives.length, capMs: 100 * H, d: 1, weights: [1], bias: 0, index: lives.map(() => 0.5), lifeMs: lives.map((l) => l * H) })
    // Skewed neighbours: the median (1 h) would be further off on average than the mean (4.5 h).
    expect(model([1, 1, 1, 1, 1, 1, 2, 3, 4, 30]).estimate([0.5])).toEqual({ lifeMs: 4.5 * H, lowMs: 1 * H, highMs: 30 * H, index: 0.5 })
    // One outlier below the 10th percentile pulls the mean under it: the estimate stays at the interval's edge.
    expect(model([0, 10, 10, 10, 10, 10, 10, 10, 10, 10]).estimate([0.5])!.lifeMs).toBe(10 * H)
  })

  it("a failure model tells a fast-wearing device from a slow one at the same index by the index's rate", () => {
    const H = 3_600_000
    // Ten history rows at index 0.5 rising fast (10 h left), ten at 0.5 standing still (50 h left).
    const index = Array.from({ length: 20 }, () => 0.5)
    const fields = { devices: 2, rows: 20, capMs: 100 * H, d: 1, weights: [1], bias: 0, index, lifeMs: index.map((_, k) => (k < 10 ? 10 : 50) * H) }
    const model = failureModelFrom({ ...fields, rate: index.map((_, k) => (k < 10 ? 0.1 : 0)), rateScale: 1, rateWeight: 0.5 })
    // The rate is the index minus what the device tracks (its smoothed index).
    expect(model.estimate([0.5], 0.4)!.lifeMs).toBe(10 * H)
    expect(model.estimate([0.5], 0.5)!.lifeMs).toBe(50 * H)
    expect(model.track!(NaN, [0.5])).toBe(0.5)
    expect(model.track!(0.3, [0.5])).toBeCloseTo(0.4)
    // A model learnt before the rate (no rate in its JSON) reads the index alone, whatever is tracked.
    const old = failureModelFrom(fields)
    expect(old.track).toBeUndefined()
    expect(old.estimate([0.5], 0.4)).toEqual(old.estimate([0.5], 0.5))
    expect(old.estimate([0.5], 0.4)).toEqual(old.estimate([0.5]))
  })

  it('resumes the failure model\'s per-device value from a snapshot exactly', () => {
    const H = 3_600_000
    const machine = (life: number, seed: number): number[][] => {
      const g = gauss(rng(seed))
      return Array.from({ length: life }, (_, t) => [20 + g(), 5 + 0.3 * g() + 4 * (Math.max(0, t - 0.4 * life) / (0.6 * life)) ** 1.5])
    }
    const model = learnFailureModel(Array.from({ length: 12 }, (_, k) => { const rows = machine(200 + 10 * k, 300 + k); return { rows, timesMs: rows.map((_, t) => t * H) } }))
    expect(model.rate).toHaveLength(model.index.length)
    const rows = machine(240, 77)
    const whole = createEngine({ warmupRows: 40 }, { failure: model })
    const lives = rows.map((r, t) => whole.process('u', r, t * H).remainingLife?.lifeMs ?? null)
    const first = createEngine({ warmupRows: 40 }, { failure: model })
    rows.slice(0, 150).forEach((r, t) => first.process('u', r, t * H))
    const second = createEngine({ warmupRows: 40 }, { failure: failureModelFrom(JSON.parse(JSON.stringify(model)) as Parameters<typeof failureModelFrom>[0]) })
    second.restore('u', first.snapshot('u')!)
    const resumed = rows.slice(150).map((r, t) => second.process('u', r, (150 + t) * H).remainingLife?.lifeMs ?? null)
    expect(resumed).toEqual(lives.slice(150))
    expect(resumed.some((l) => l !== null)).toBe(true)
  })
})

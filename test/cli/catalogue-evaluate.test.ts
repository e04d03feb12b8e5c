/** The shipped catalogue files are the TypeScript catalogue they replaced: same data, same scorecard. */
import { afterEach, describe, expect, it } from 'vitest'
import { runEvaluate, type Scorecard } from '../../cli/evaluate.ts'
import { catalogue, installCatalogue, loadedTypes } from '../../domain/index.ts'
import { typescriptCatalogue } from '../fixtures/catalogue-typescript.ts'

const figures = (c: Scorecard) => ({ ...c, readingsPerSec: 0, elapsedS: 0 })

afterEach(() => installCatalogue())

describe('shipped catalogue files', () => {
  it('hold the same four types as the TypeScript catalogue did, field for field', () => {
    expect(loadedTypes()).toEqual(typescriptCatalogue.map((s) => s.type))
    for (const spec of typescriptCatalogue) expect(catalogue[spec.type]).toEqual(spec)
  })

  it('give the same `forewarn evaluate` figures on the same seed', async () => {
    const fromFiles = await runEvaluate({ devices: 20, days: 40, seed: 5, workers: 1 })
    installCatalogue(typescriptCatalogue)
    // The catalogue objects really are the TypeScript ones now (the detector builds per spec object).
    expect(catalogue.refrigerator).toBe(typescriptCatalogue[0])
    const fromTypescript = await runEvaluate({ devices: 20, days: 40, seed: 5, workers: 1 })
    expect(fromFiles.faults).toBeGreaterThan(0)
    expect(fromFiles.warnings).toBeGreaterThan(0)
    expect(figures(fromFiles)).toEqual(figures(fromTypescript))
  }, 120_000)
})

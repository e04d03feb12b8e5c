import { describe, expect, it } from 'vitest'
import { runEvaluate, score } from '../../cli/evaluate.ts'
import type { GroundTruth } from '../../simulators/appliance.ts'

const H = 3_600_000

describe('runEvaluate', () => {
  it('scores a small simulated fleet above regression floors (well below the targets)', async () => {
    const card = await runEvaluate({ devices: 32, days: 45, seed: 7 })
    expect(Object.keys(card)).toEqual(expect.arrayContaining(['detectionRate', 'leadTimeHours', 'falseWarningsPer1000DeviceDays', 'faultCodeAccuracy', 'rulMedianRelativeError']))
    expect(card.faults).toBeGreaterThan(4)
    expect(card.detectionRate).toBeGreaterThanOrEqual(0.7)
    expect(card.leadTimeHours.median).toBeGreaterThanOrEqual(36)
    expect(card.falseWarningsPer1000DeviceDays).toBeLessThanOrEqual(3)
    expect(card.faultCodeAccuracy).toBeGreaterThanOrEqual(0.7)
    expect(card.rulMedianRelativeError).toBeLessThanOrEqual(1.5)
    expect(card.readings).toBeGreaterThan(32 * 45 * 1440 * 0.95)
  })

  it('gives the same scorecard with worker threads', async () => {
    const one = await runEvaluate({ devices: 6, days: 12, seed: 3, workers: 1 })
    const two = await runEvaluate({ devices: 6, days: 12, seed: 3, workers: 2 })
    const strip = (c: typeof one) => ({ ...c, readingsPerSec: 0, elapsedS: 0, workers: 0 })
    expect(strip(two)).toEqual(strip(one))
    expect(two.workers).toBe(2)
  })
})

describe('score', () => {
  const truth: GroundTruth[] = [
    { deviceId: 'a', type: 'refrigerator', faultCode: 'REF-LEAK', component: 'sealed_system', onsetMs: 100 * H, failureMs: 400 * H },
    { deviceId: 'b', type: 'refrigerator', faultCode: 'REF-CMPW', component: 'compressor', onsetMs: 100 * H, failureMs: 400 * H },
  ]
  it('counts detection before failure, lead time, wrong codes, false warnings and RUL error', () => {
    const s = score(truth, [
      { deviceId: 'a', faultCode: 'REF-LEAK', source: 'detector', eventTime: 300 * H, rulMedianHours: 150 },
      { deviceId: 'b', faultCode: 'REF-DSEAL', source: 'detector', eventTime: 500 * H, rulMedianHours: 10 },
      { deviceId: 'c', faultCode: 'REF-LEAK', source: 'detector', eventTime: 10 * H, rulMedianHours: null },
      { deviceId: 'a', faultCode: 'E7', source: 'firmware', eventTime: 410 * H, rulMedianHours: null },
    ], 10, 100)
    expect(s.detectionRate).toBe(0.5)
    expect(s.leadTimeHours).toEqual({ median: 100, p10: 100 })
    expect(s.falseWarningsPer1000DeviceDays).toBe(1)
    expect(s.faultCodeAccuracy).toBe(1)
    expect(s.rulMedianRelativeError).toBe(0.5)
  })
})

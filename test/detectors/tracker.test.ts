import { describe, expect, it } from 'vitest'
import { TRACKER_SLOTS, trackerAdd, trackerBaseline, trackerInit, trackerLevel, trackerProgress, trackerReady, trackerTrend, trackerZ } from '../../detectors/tracker.ts'

const up = { direction: 'up' as const, failureChange: 0.5, relative: true }

function tracker(values: number[], warmup = 6, level = 3): Float64Array {
  const s = new Float64Array(TRACKER_SLOTS)
  trackerInit(s, 0, warmup, level)
  values.forEach((v, i) => trackerAdd(s, 0, v, i * 12))
  return s
}

describe('feature tracker', () => {
  it('learns a robust baseline (median) from the warm-up values only', () => {
    const s = tracker([10, 10.2, 9.8, 10, 50, 10.1, 30, 30])
    expect(trackerReady(s, 0)).toBe(true)
    expect(trackerBaseline(s, 0)).toBe(10.05)
  })

  it('is not ready before the warm-up is complete and ignores NaN', () => {
    const s = tracker([10, NaN, 10, 10, 10, NaN])
    expect(trackerReady(s, 0)).toBe(false)
  })

  it('takes the level as the median of the last three, so one odd window does not move it', () => {
    const s = tracker([10, 10, 10, 10, 10, 10, 10, 25, 10])
    expect(trackerLevel(s, 0)).toBe(10)
    expect(trackerProgress(s, 0, up)).toBe(0)
  })

  it('uses the median of five for cycle features', () => {
    const s = tracker([10, 10, 10, 10, 10, 10, 13, 13, 10, 10, 14], 6, 5)
    expect(trackerLevel(s, 0)).toBe(13)
  })

  it('measures progress toward the failure limit and deviation in floored spreads', () => {
    const s = tracker([10, 10, 10, 10, 10, 10, 12.5, 12.5, 12.5])
    expect(trackerProgress(s, 0, up)).toBeCloseTo(0.5, 9)
    // MAD is 0, so the spread floor (4 % of the 5-unit failure span = 0.2) applies.
    expect(trackerZ(s, 0, up)).toBeCloseTo(12.5, 9)
  })

  it('fits the trend of progress per hour', () => {
    const s = tracker([10, 10, 10, 10, 10, 10, 11, 12, 13])
    const fit = trackerTrend(s, 0, up)!
    // Ring holds the last 8 values; the straight-line fit over them must rise.
    expect(fit.slopePerHour).toBeGreaterThan(0)
    expect(fit.progressNow).toBeGreaterThan(0.4)
  })
})

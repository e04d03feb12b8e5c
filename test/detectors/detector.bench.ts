/**
 * Detector cost per reading and appliance type (`npx vitest bench test/detectors`; not run by
 * `vitest run`). Readings are generated before timing, in live-stream order (event time across
 * devices); each iteration folds one day of 50 appliances into a fresh detector.
 */
import { bench, describe } from 'vitest'
import { applianceTypes, type Reading } from '../../domain/index.ts'
import { createDetector } from '../../detectors/index.ts'
import { createSimAppliance } from '../../simulators/appliance.ts'

const DEVICES = 50
const READINGS_PER_DEVICE = 1440

describe('detector.process, 50 devices × 1 day (72,000 readings per iteration)', () => {
  for (const type of applianceTypes) {
    const sims = Array.from({ length: DEVICES }, (_, i) => createSimAppliance({ deviceId: `${type}-${i}`, type, seed: 100 + i, startMs: Date.UTC(2026, 0, 1) }))
    const readings: Reading[] = []
    for (let k = 0; k < READINGS_PER_DEVICE; k++) {
      for (const s of sims) {
        const r = s.next()
        if (!r.lost) readings.push({ deviceId: s.deviceId, boot: r.boot, seq: k, ts: r.ts, metrics: r.metrics })
      }
    }
    bench(type, () => {
      const det = createDetector()
      for (const s of sims) det.ensureDevice(s.deviceId, type)
      for (const r of readings) det.process(r)
    }, { time: 1000, iterations: 5 })
  }
})

/** Streams simulated appliances through a detector for the detector tests. */
import type { Detector } from '../../detectors/index.ts'
import type { ApplianceType, DetectorEvent } from '../../domain/index.ts'
import { createSimAppliance, type SimAppliance, type SimFault } from '../../simulators/appliance.ts'

export const START = Date.UTC(2026, 2, 1)
export const DAY = 86_400_000
export const HOUR = 3_600_000

export const fault = (code: string, component: string, onsetDay: number, failDay: number): SimFault =>
  ({ code, component, onsetMs: START + onsetDay * DAY, failureMs: START + failDay * DAY, shape: 1.3 })

/** A simulated appliance whose first reading is at `fromDay`. */
export function sim(id: string, type: ApplianceType, seed: number, fromDay = 0, f?: SimFault): SimAppliance {
  return createSimAppliance({ deviceId: id, type, seed, startMs: START + fromDay * DAY, fault: f, horizonDays: 90 })
}

/** Feeds every reading the appliance sends before `toDay` (the device must exist in the detector). */
export function run(det: Detector, s: SimAppliance, toDay: number): DetectorEvent[] {
  const events: DetectorEvent[] = []
  const end = START + toDay * DAY
  for (let i = 0; i < 200 * 1440; i++) {
    const r = s.next()
    if (!r.lost) events.push(...det.process({ deviceId: s.deviceId, boot: r.boot, seq: i, ts: r.ts, metrics: r.metrics }))
    if (r.ts + s.intervalMs >= end) break
  }
  return events
}

/** Events as `kind id` strings: what the tests compare. */
export const brief = (es: readonly DetectorEvent[]): string[] => es.map((e) => `${e.kind} ${e.episodeId}`)

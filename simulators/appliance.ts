/**
 * Simulated appliances: pure signal models (no MQTT, no clock) used by the MQTT fleet, by
 * `forewarn evaluate` and by tests. PLACEHOLDER signals until the real models land; the
 * interface is what the fleet runner and the evaluator build on.
 */
import type { ApplianceType } from '../domain/index.ts'
import { catalogue } from '../domain/index.ts'

export interface SimFault {
  code: string
  component: string
  /** Event time the degradation starts. */
  onsetMs: number
  /** Event time of functional failure (the appliance stops doing its job). */
  failureMs: number
}

export interface SimApplianceOptions {
  deviceId: string
  type: ApplianceType
  seed: number
  /** Event time of the first reading. */
  startMs: number
  /** Defaults to the catalogue's reporting interval. */
  intervalMs?: number
  fault?: SimFault
}

export interface SimReading {
  ts: number
  metrics: Record<string, number>
}

export interface SimAppliance {
  readonly deviceId: string
  readonly type: ApplianceType
  readonly intervalMs: number
  /** Produces the next reading and advances the appliance's clock by one interval. */
  next(): SimReading
  /** Firmware error codes raised since the last call (e.g. a hard failure after `failureMs`). */
  drainFirmwareEvents(): { ts: number; code: string; detail?: string }[]
}

/** Small, fast, seedable PRNG (mulberry32) so a fleet is reproducible from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function createSimAppliance(o: SimApplianceOptions): SimAppliance {
  const spec = catalogue[o.type]
  const intervalMs = o.intervalMs ?? spec.reportingIntervalS * 1000
  const rand = rng(o.seed)
  let ts = o.startMs
  return {
    deviceId: o.deviceId,
    type: o.type,
    intervalMs,
    next() {
      const metrics: Record<string, number> = {}
      for (const m of spec.metrics) {
        const [lo, hi] = m.normal
        metrics[m.name] = m.unit === 'bool' ? (rand() < 0.5 ? 1 : 0) : lo + (hi - lo) * (0.4 + 0.2 * rand())
      }
      const r = { ts, metrics }
      ts += intervalMs
      return r
    },
    drainFirmwareEvents: () => [],
  }
}

export interface GroundTruth {
  deviceId: string
  type: ApplianceType
  faultCode: string
  component: string
  onsetMs: number
  failureMs: number
}

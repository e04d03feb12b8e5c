import type { ApplianceType } from '../../domain/index.ts'
import type { Rand, HomeSchedule } from './env.ts'

/** A fault injected into a simulated appliance (its ground truth). */
export interface SimFault {
  code: string
  component: string
  /** Event time the degradation starts. */
  onsetMs: number
  /** Event time of functional failure (the appliance stops doing its job). */
  failureMs: number
  /** Degradation curve exponent (1 linear, 2 slow start); default 1.5. */
  shape?: number
}

/** Which fault a simulated appliance carries, for scoring a detector against it. */
export interface GroundTruth {
  deviceId: string
  type: ApplianceType
  faultCode: string
  component: string
  onsetMs: number
  failureMs: number
}

/** One appliance's physics. `step` advances `dtMin` minutes and writes every metric into `out`. */
export interface ApplianceModel {
  /** `sev(code)` is the degradation 0…1 of that fault code right now (0 when not injected). */
  step(ts: number, dtMin: number, out: Record<string, number>, sev: (code: string) => number, powered: boolean): void
}

export type ModelFactory = (rand: Rand, home: HomeSchedule) => ApplianceModel

/** A device-specific factor around 1 so that one appliance's normal is not another's. */
export function spread(rand: Rand, pct: number): number {
  return 1 + (rand() * 2 - 1) * pct
}

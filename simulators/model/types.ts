import type { Rand, HomeSchedule } from './env.ts'

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

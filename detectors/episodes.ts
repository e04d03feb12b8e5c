/**
 * Episode semantics per device and fault code: one active episode at a time; it is raised
 * once, escalates only upwards, and clears only after `clearAfter` consecutive calm
 * observations (hysteresis). A new episode after a clear gets the next number, so ids
 * (`{deviceId}:{code}:{n}`) are deterministic across a replay after restart.
 */
import { severityRank, type Severity } from '../domain/index.ts'

export interface EpisodeBook {
  /** Episodes ever opened per code index. */
  counter: Uint32Array
  /** Severity rank of the active episode (0 = none). */
  active: Uint8Array
  /** Consecutive calm observations while active. */
  calm: Uint8Array
}

export type EpisodeTransition = 'raised' | 'escalated' | 'cleared' | null

export const rankSeverity: readonly (Severity | null)[] = [null, 'watch', 'warning', 'critical']

export function createEpisodeBook(codes: number): EpisodeBook {
  return { counter: new Uint32Array(codes), active: new Uint8Array(codes), calm: new Uint8Array(codes) }
}

/** The fault is present with `severity`: raise, escalate, or nothing (never de-escalates). */
export function episodeAlarm(b: EpisodeBook, i: number, severity: Severity): EpisodeTransition {
  const r = severityRank[severity]
  b.calm[i] = 0
  if (b.active[i] === 0) {
    b.counter[i]! += 1
    b.active[i] = r
    return 'raised'
  }
  if (r > b.active[i]!) {
    b.active[i] = r
    return 'escalated'
  }
  return null
}

/** The fault's evidence is below the clear threshold this time. */
export function episodeCalm(b: EpisodeBook, i: number, clearAfter: number): EpisodeTransition {
  if (b.active[i] === 0) return null
  b.calm[i]! += 1
  if (b.calm[i]! < clearAfter) return null
  b.active[i] = 0
  b.calm[i] = 0
  return 'cleared'
}

/** The fault is between the clear and raise thresholds: keep what is, reset the calm streak. */
export function episodeHold(b: EpisodeBook, i: number): void {
  b.calm[i] = 0
}

export function episodeId(deviceId: string, code: string, b: EpisodeBook, i: number): string {
  return `${deviceId}:${code}:${b.counter[i]}`
}

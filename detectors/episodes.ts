/**
 * Episode semantics per device and fault code: one active episode at a time; it is raised
 * once, escalates only upwards, and clears only after `clearAfter` consecutive calm
 * observations (hysteresis). A new episode after a clear gets the next number, so ids
 * (`{deviceId}:{code}:{n}`) are deterministic across a replay after restart.
 */
import { severityRank, type Severity } from '../domain/index.ts'

/**
 * One Uint32Array per device (compact: no per-field arrays): for `n` codes, slots [0, n) count
 * episodes ever opened, [n, 2n) hold the active episode's severity rank (0 = none), [2n, 3n)
 * the consecutive calm observations while active.
 */
export interface EpisodeBook {
  codes: number
  slots: Uint32Array
}

export type EpisodeTransition = 'raised' | 'escalated' | 'cleared' | null

export const rankSeverity: readonly (Severity | null)[] = [null, 'watch', 'warning', 'critical']

export function createEpisodeBook(codes: number): EpisodeBook {
  return { codes, slots: new Uint32Array(3 * codes) }
}

export function episodeCount(b: EpisodeBook, i: number): number {
  return b.slots[i]!
}

/** Severity rank of the active episode of code `i` (0 = none). */
export function episodeActive(b: EpisodeBook, i: number): number {
  return b.slots[b.codes + i]!
}

/** The fault is present with `severity`: raise, escalate, or nothing (never de-escalates). */
export function episodeAlarm(b: EpisodeBook, i: number, severity: Severity): EpisodeTransition {
  const r = severityRank[severity]
  const s = b.slots
  s[2 * b.codes + i] = 0
  if (s[b.codes + i] === 0) {
    s[i]! += 1
    s[b.codes + i] = r
    return 'raised'
  }
  if (r > s[b.codes + i]!) {
    s[b.codes + i] = r
    return 'escalated'
  }
  return null
}

/** The fault's evidence is below the clear threshold this time. */
export function episodeCalm(b: EpisodeBook, i: number, clearAfter: number): EpisodeTransition {
  const s = b.slots
  if (s[b.codes + i] === 0) return null
  s[2 * b.codes + i]! += 1
  if (s[2 * b.codes + i]! < clearAfter) return null
  s[b.codes + i] = 0
  s[2 * b.codes + i] = 0
  return 'cleared'
}

/** Ends the active episode at once (a repair, a firmware code gone quiet); true when one was active. The counter keeps counting. */
export function episodeClear(b: EpisodeBook, i: number): boolean {
  const s = b.slots
  if (s[b.codes + i] === 0) return false
  s[b.codes + i] = 0
  s[2 * b.codes + i] = 0
  return true
}

/** The fault is between the clear and raise thresholds: keep what is, reset the calm streak. */
export function episodeHold(b: EpisodeBook, i: number): void {
  b.slots[2 * b.codes + i] = 0
}

export function episodeId(deviceId: string, code: string, b: EpisodeBook, i: number): string {
  return `${deviceId}:${code}:${b.slots[i]}`
}

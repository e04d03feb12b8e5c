import { describe, expect, it } from 'vitest'
import { createEpisodeBook, episodeActive, episodeAlarm, episodeCalm, episodeHold, episodeId } from '../../detectors/episodes.ts'

describe('episode state machine', () => {
  it('raises once, then stays silent at the same or lower severity (no duplicates)', () => {
    const b = createEpisodeBook(2)
    expect(episodeAlarm(b, 0, 'watch')).toBe('raised')
    expect(episodeAlarm(b, 0, 'watch')).toBe(null)
    expect(episodeAlarm(b, 0, 'watch')).toBe(null)
    expect(episodeId('d1', 'X', b, 0)).toBe('d1:X:1')
  })

  it('escalates only upwards', () => {
    const b = createEpisodeBook(1)
    episodeAlarm(b, 0, 'watch')
    expect(episodeAlarm(b, 0, 'critical')).toBe('escalated')
    expect(episodeAlarm(b, 0, 'warning')).toBe(null)
    expect(episodeActive(b, 0)).toBe(3)
  })

  it('clears only after enough consecutive calm observations; a relapse resets the streak', () => {
    const b = createEpisodeBook(1)
    episodeAlarm(b, 0, 'warning')
    expect(episodeCalm(b, 0, 3)).toBe(null)
    expect(episodeCalm(b, 0, 3)).toBe(null)
    episodeHold(b, 0)
    expect(episodeCalm(b, 0, 3)).toBe(null)
    expect(episodeCalm(b, 0, 3)).toBe(null)
    expect(episodeCalm(b, 0, 3)).toBe('cleared')
    expect(episodeCalm(b, 0, 3)).toBe(null)
  })

  it('numbers a new episode after a clear', () => {
    const b = createEpisodeBook(1)
    episodeAlarm(b, 0, 'warning')
    episodeCalm(b, 0, 1)
    expect(episodeAlarm(b, 0, 'watch')).toBe('raised')
    expect(episodeId('d', 'C', b, 0)).toBe('d:C:2')
  })
})

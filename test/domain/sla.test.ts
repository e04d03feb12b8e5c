import { describe, expect, it } from 'vitest'
import {
  addWorkingHours, clockOf, deadlinesFrom, defaultSla, effectiveSla, isBreakdown, latestWorkingAtOrBefore, orderDeadlines,
  predictedClock, settleSla, slaClockFor, updateClock, workingHoursWords, type SlaTargets,
} from '../../domain/index.ts'

const at = (s: string) => Date.parse(s)
const iso = (ms: number) => new Date(ms).toISOString()
const H = 3_600_000
const weekdays = { days: [1, 2, 3, 4, 5], start: '09:00', end: '17:00' }
const rul = (lowHours: number) => ({ medianHours: lowHours * 1.5, lowHours, highHours: lowHours * 2 })

describe('working hours', () => {
  it('the latest working moment: itself inside hours, else the end of the last working day', () => {
    expect(iso(latestWorkingAtOrBefore(at('2026-12-02T11:30:00Z'), weekdays, 'UTC'))).toBe('2026-12-02T11:30:00.000Z') // Wed, inside
    expect(iso(latestWorkingAtOrBefore(at('2026-12-02T08:59:00Z'), weekdays, 'UTC'))).toBe('2026-12-01T17:00:00.000Z') // before opening
    expect(iso(latestWorkingAtOrBefore(at('2026-12-02T20:00:00Z'), weekdays, 'UTC'))).toBe('2026-12-02T17:00:00.000Z') // after closing
    expect(iso(latestWorkingAtOrBefore(at('2026-12-06T12:00:00Z'), weekdays, 'UTC'))).toBe('2026-12-04T17:00:00.000Z') // Sunday → Friday
  })

  it('adds working time across evenings and weekends', () => {
    expect(iso(addWorkingHours(at('2026-12-02T10:00:00Z'), 4, weekdays, 'UTC'))).toBe('2026-12-02T14:00:00.000Z')
    expect(iso(addWorkingHours(at('2026-12-04T15:00:00Z'), 4, weekdays, 'UTC'))).toBe('2026-12-07T11:00:00.000Z') // Fri 15:00 + 4 h → Mon 11:00
    expect(iso(addWorkingHours(at('2026-12-05T22:00:00Z'), 1, weekdays, 'UTC'))).toBe('2026-12-07T10:00:00.000Z') // from a Saturday night
    expect(iso(addWorkingHours(at('2026-12-02T10:00:00Z'), 20, weekdays, 'UTC'))).toBe('2026-12-04T14:00:00.000Z') // 7 + 8 + 5 h
  })

  it('reads hours in the time zone, across a daylight-saving change', () => {
    // Berlin leaves CET (UTC+1) for CEST (UTC+2) on Sunday 29 March 2026.
    expect(iso(latestWorkingAtOrBefore(at('2026-03-29T12:00:00Z'), weekdays, 'Europe/Berlin'))).toBe('2026-03-27T16:00:00.000Z') // Fri 17:00 CET
    expect(iso(addWorkingHours(at('2026-03-27T14:00:00Z'), 4, weekdays, 'Europe/Berlin'))).toBe('2026-03-30T09:00:00.000Z') // Mon 11:00 CEST
    expect(iso(addWorkingHours(at('2026-03-27T14:00:00Z'), 4, weekdays, 'America/New_York'))).toBe('2026-03-27T18:00:00.000Z')
    // A day ending at midnight.
    expect(iso(latestWorkingAtOrBefore(at('2026-12-06T03:00:00Z'), { days: [5], start: '00:00', end: '24:00' }, 'UTC'))).toBe('2026-12-05T00:00:00.000Z')
  })

  it('names the hours in words', () => {
    expect(workingHoursWords(defaultSla.tiers.P2.workingHours, 'UTC')).toBe('Mon–Sat 08:00–18:00 UTC')
    expect(workingHoursWords(defaultSla.tiers.P1.workingHours, 'Europe/Berlin')).toBe('every day 08:00–20:00 Europe/Berlin')
    expect(workingHoursWords({ days: [1, 3], start: '09:00', end: '12:00' }, 'UTC')).toBe('Mon, Wed 09:00–12:00 UTC')
  })
})

describe('deadline order', () => {
  it('confirm ≤ plan ≤ on site ≤ close, pulling earlier steps forward and the close after the visit', () => {
    expect(orderDeadlines({ confirmBy: 5 * H, planBy: 3 * H, respondBy: 2 * H, closeBy: H })).toEqual({
      confirmBy: iso(2 * H), planBy: iso(2 * H), respondBy: iso(2 * H), closeBy: iso(2 * H),
    })
  })

  it('the breakdown clock: a P1 visit in 2 h is planned by then, not at the generic 3 h', () => {
    const t0 = at('2026-12-05T22:00:00Z')
    expect(deadlinesFrom(t0, 'P1')).toEqual({
      confirmBy: '2026-12-05T22:03:00.000Z', planBy: '2026-12-06T00:00:00.000Z', respondBy: '2026-12-06T00:00:00.000Z', closeBy: '2026-12-08T22:00:00.000Z',
    })
    expect(deadlinesFrom(t0, 'P3').planBy).toBe('2026-12-06T01:00:00.000Z')
    // A policy whose close comes before its on-site promise closes no sooner than the visit.
    const odd: SlaTargets = { ...defaultSla, closeDays: 0.5 }
    expect(deadlinesFrom(t0, 'P3', odd)).toMatchObject({ respondBy: '2026-12-06T22:00:00.000Z', closeBy: '2026-12-06T22:00:00.000Z' })
  })
})

describe('which clock', () => {
  it('a breakdown is a critical firmware code or no life left; a critical prediction is still a prediction', () => {
    expect(isBreakdown({ source: 'firmware', severity: 'critical', rul: null })).toBe(true)
    expect(isBreakdown({ source: 'firmware', severity: 'warning', rul: null })).toBe(false)
    expect(isBreakdown({ source: 'detector', severity: 'critical', rul: rul(30) })).toBe(false)
    expect(isBreakdown({ source: 'detector', severity: 'critical', rul: rul(0) })).toBe(true)
  })

  it('predicted: the visit a margin before the low end of remaining life, moved back into working hours', () => {
    const t0 = at('2026-12-02T10:00:00Z') // Wednesday
    const c = predictedClock(t0, 'P3', rul(96), defaultSla) // failure from Sunday 10:00
    expect(c).toMatchObject({
      policy: 'predicted', failureExpectedAt: '2026-12-06T10:00:00.000Z', breakdownAt: null,
      respondBy: '2026-12-04T18:00:00.000Z', // a day before is Saturday 10:00; P3 works Mon–Fri 08:00–18:00, so Friday's close
      confirmBy: '2026-12-02T14:00:00.000Z', planBy: '2026-12-02T18:00:00.000Z', closeBy: '2026-12-06T10:00:00.000Z',
    })
    expect(c.onFailure).toEqual({ anchoredAt: '2026-12-06T10:00:00.000Z', ...deadlinesFrom(at('2026-12-06T10:00:00Z'), 'P3') })
    // A wider margin, per tier, moves the visit earlier.
    const wide: SlaTargets = { ...defaultSla, tiers: { ...defaultSla.tiers, P3: { ...defaultSla.tiers.P3, predicted: { ...defaultSla.tiers.P3.predicted, marginHours: 72 } } } }
    expect(predictedClock(t0, 'P3', rul(96), wide).respondBy).toBe('2026-12-03T10:00:00.000Z')
  })

  it('predicted, failure sooner than the margin allows: the visit gets the tier breakdown response, never a deadline in the past', () => {
    const t0 = at('2026-12-02T10:00:00Z')
    const c = predictedClock(t0, 'P2', rul(10), defaultSla)
    expect(c.respondBy).toBe('2026-12-02T14:00:00.000Z')
    expect(c.confirmBy <= c.planBy && c.planBy <= c.respondBy && c.respondBy <= c.closeBy).toBe(true)
    expect(c.reason).toContain('the visit gets the P2 breakdown response of 4 h')
  })

  it('predicted without an estimate: failure assumed noEstimateDays after detection', () => {
    const c = predictedClock(at('2026-12-02T10:00:00Z'), 'P1', null, defaultSla)
    expect(c).toMatchObject({ failureExpectedAt: '2026-12-06T10:00:00.000Z', respondBy: '2026-12-05T10:00:00.000Z' })
    expect(c.reason).toMatch(/^Predicted fault: no remaining-life estimate/)
  })

  it('a critical firmware code opens on the breakdown clock in calendar time', () => {
    const c = slaClockFor(at('2026-12-05T22:00:00Z'), 'P2', { source: 'firmware', severity: 'critical', rul: null })
    expect(c).toMatchObject({ policy: 'breakdown', breakdownAt: '2026-12-05T22:00:00.000Z', respondBy: '2026-12-06T02:00:00.000Z', onFailure: null, failureExpectedAt: null })
    expect(c.reason).toBe('Breakdown (the appliance reported a critical fault code): P2 clock — confirm in 3 minutes, plan in 3 h, on site in 4 h, repair done in 3 days.')
  })
})

describe('escalation', () => {
  const t0 = at('2026-12-02T10:00:00Z')
  const predicted = predictedClock(t0, 'P2', rul(96), defaultSla)

  it('a predicted failure reached before the visit runs the breakdown clock from the failure time', () => {
    const ticket = (state: string) => ({ state, sla: predicted })
    const failure = at(predicted.failureExpectedAt!)
    expect(effectiveSla(ticket('scheduled'), failure - 1)).toMatchObject({ policy: 'predicted', escalated: false, respondBy: predicted.respondBy, startedAt: predicted.anchoredAt })
    expect(effectiveSla(ticket('scheduled'), failure)).toMatchObject({ policy: 'breakdown', escalated: true, startedAt: predicted.failureExpectedAt, respondBy: iso(failure + 4 * H) })
    // The technician is already there: no breakdown clock.
    expect(effectiveSla(ticket('in_progress'), failure + H).policy).toBe('predicted')
    // Written down at the next state change, and then it stays.
    const settled = settleSla(ticket('acknowledged'), failure + H)
    expect(settled).toMatchObject({ policy: 'breakdown', breakdownAt: predicted.failureExpectedAt, onFailure: null, respondBy: iso(failure + 4 * H) })
    expect(effectiveSla({ state: 'in_progress', sla: settled }, failure + 2 * H)).toMatchObject({ policy: 'breakdown', escalated: false, startedAt: predicted.failureExpectedAt })
    expect(settleSla(ticket('acknowledged'), failure - H)).toBe(predicted)
  })

  it('a later critical firmware code starts the breakdown clock at its detection', () => {
    const later = t0 + 5 * H
    const c = updateClock(predicted, later, 'P1', { source: 'firmware', severity: 'critical', rul: null })
    expect(c).toMatchObject({ policy: 'breakdown', anchoredAt: predicted.anchoredAt, breakdownAt: iso(later), respondBy: iso(later + 2 * H) })
    // A further warning keeps that breakdown clock (higher priority may tighten it).
    expect(updateClock(c, later + H, 'P1', { source: 'detector', severity: 'warning', rul: rul(500) })).toMatchObject({ policy: 'breakdown', breakdownAt: iso(later) })
  })

  it('a newer, shorter estimate only tightens the predicted clock', () => {
    const sooner = updateClock(predicted, t0 + 24 * H, 'P2', { source: 'detector', severity: 'warning', rul: rul(30) })
    expect(sooner.policy).toBe('predicted')
    expect(sooner.failureExpectedAt).toBe(iso(t0 + 54 * H))
    expect(sooner.respondBy < predicted.respondBy).toBe(true)
    const longer = updateClock(predicted, t0 + 24 * H, 'P2', { source: 'detector', severity: 'warning', rul: rul(500) })
    expect(longer).toMatchObject({ respondBy: predicted.respondBy, closeBy: predicted.closeBy, failureExpectedAt: predicted.failureExpectedAt })
  })

  it('a ticket stored before this policy reads as the breakdown clock from detection', () => {
    const old = { anchoredAt: iso(t0), ...deadlinesFrom(t0, 'P1') }
    expect(effectiveSla({ state: 'open', sla: old }, t0 + 10 * 86_400_000)).toMatchObject({ policy: 'breakdown', escalated: false, startedAt: iso(t0), respondBy: old.respondBy })
    expect(clockOf(old)).toMatchObject({ policy: 'breakdown', breakdownAt: iso(t0), onFailure: null })
  })
})

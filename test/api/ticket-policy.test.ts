import { describe, expect, it } from 'vitest'
import {
  buildTicket, coverageFor, defaultTicketPolicy, faultInfo, joinWarning, mergeTarget, opensTicket, parseTicketPolicy,
} from '../../api/ticket-policy.ts'
import type { Device } from '../../domain/index.ts'
import { event } from './fixtures.ts'

const device: Device = {
  id: 'ref-aaaaaaaaaaaa', type: 'refrigerator', model: 'FR-300', serial: 'S1', region: 'eu', installDate: '2025-01-01',
  warranty: { standardEnd: '2026-01-01', extended: [{ component: 'compressor', end: '2028-01-01' }] },
  ownerRef: null, gatewayId: null, createdAt: '2025-01-01T00:00:00.000Z', connection: 'online', lastSeen: null, revoked: false,
}
const at = (iso: string) => Date.parse(iso)
const H = 3_600_000

describe('ticket policy', () => {
  it('fills defaults and refuses a bad policy with a CONFIG error naming the field', () => {
    expect(parseTicketPolicy({})).toEqual(defaultTicketPolicy)
    expect(parseTicketPolicy({ minSeverity: 'critical', mergeWindowHours: 2 })).toMatchObject({ minSeverity: 'critical', mergeWindowHours: 2 })
    expect(() => parseTicketPolicy({ minSeverity: 'loud' })).toThrow(/invalid ticket policy at \/minSeverity/)
    expect(() => parseTicketPolicy({ mergeWindow: 3 })).toThrow(/invalid ticket policy/)
  })

  it('service levels: every key optional, per-tier working hours and margins, bad zones and hours refused', () => {
    // A policy file written before the predicted clock existed still loads, unchanged in meaning.
    const old = parseTicketPolicy({ sla: { confirmMinutes: 5, planHours: 4, closeDays: 2, responseHours: { P1: 1, P2: 8, P3: 48 } } })
    expect(old.sla).toMatchObject({ confirmMinutes: 5, responseHours: { P1: 1, P2: 8, P3: 48 }, timeZone: 'UTC', tiers: defaultTicketPolicy.sla.tiers })
    const p = parseTicketPolicy({ sla: {
      timeZone: 'Europe/Berlin', predicted: { marginHours: 48 },
      tiers: { P3: { workingHours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '16:30' }, predicted: { marginHours: 12, confirmWorkingHours: 8 } } },
    } })
    expect(p.sla.timeZone).toBe('Europe/Berlin')
    expect(p.sla.responseHours).toEqual({ P1: 2, P2: 4, P3: 24 })
    expect(p.sla.tiers.P1.predicted).toEqual({ marginHours: 48, confirmWorkingHours: 4, planWorkingHours: 8, noEstimateDays: 4 })
    expect(p.sla.tiers.P3).toEqual({ workingHours: { days: [1, 2, 3, 4, 5], start: '09:00', end: '16:30' }, predicted: { marginHours: 12, confirmWorkingHours: 8, planWorkingHours: 8, noEstimateDays: 4 } })
    expect(() => parseTicketPolicy({ sla: { timeZone: 'Mars/Olympus' } })).toThrow(/\/sla\/timeZone: unknown time zone/)
    expect(() => parseTicketPolicy({ sla: { tiers: { P2: { workingHours: { days: [1], start: '18:00', end: '08:00' } } } } })).toThrow(/\/sla\/tiers\/P2\/workingHours: start must be before end/)
    expect(() => parseTicketPolicy({ sla: { tiers: { P2: { workingHours: { days: [8], start: '08:00', end: '18:00' } } } } })).toThrow(/invalid ticket policy at \/sla\/tiers\/P2/)
    expect(() => parseTicketPolicy({ sla: { tiers: { P2: { workingHours: { days: [1], start: '8:00', end: '18:00' } } } } })).toThrow(/invalid ticket policy/)
    expect(() => parseTicketPolicy({ sla: { tiers: { P4: {} } } })).toThrow(/invalid ticket policy/)
  })

  it('opens tickets at or above the minimum severity, from the configured sources', () => {
    const p = parseTicketPolicy({ minSeverity: 'warning', sources: ['detector'] })
    expect(opensTicket(p, 'watch', 'detector')).toBe(false)
    expect(opensTicket(p, 'warning', 'detector')).toBe(true)
    expect(opensTicket(p, 'critical', 'detector')).toBe(true)
    expect(opensTicket(p, 'critical', 'firmware')).toBe(false)
  })

  it('joins the newest open ticket inside the window only', () => {
    const p = parseTicketPolicy({ mergeWindowHours: 24 })
    const t0 = at('2026-01-01T00:00:00Z')
    const open = [{ id: 'a', createdAtMs: t0 }, { id: 'b', createdAtMs: t0 + 2 * H }]
    expect(mergeTarget(p, open, t0 + 3 * H)?.id).toBe('b')
    expect(mergeTarget(p, open, t0 + 25 * H)?.id).toBe('b')
    expect(mergeTarget(p, open, t0 + 27 * H)).toBeNull()
    expect(mergeTarget(parseTicketPolicy({ mergeWindowHours: 0 }), open, t0 + 3 * H)).toBeNull()
  })

  it('coverage: standard warranty (end inclusive), extended per component, else the customer pays', () => {
    expect(coverageFor(device, 'compressor', at('2026-01-01T23:00:00Z'))).toMatchObject({ coverage: 'warranty', payer: 'manufacturer' })
    expect(coverageFor(device, 'compressor', at('2026-01-02T00:00:00Z'))).toMatchObject({ coverage: 'extended_warranty', payer: 'extended_warranty_provider', extendedEnd: '2028-01-01' })
    expect(coverageFor(device, 'door_seal', at('2026-01-02T00:00:00Z'))).toMatchObject({ coverage: 'out_of_warranty', payer: 'customer', extendedEnd: null })
    expect(coverageFor(device, 'compressor', at('2028-01-02T00:00:00Z')).coverage).toBe('out_of_warranty')
    expect(coverageFor(device, 'door_seal', at('2025-01-05T00:00:00Z')).remedy).toBe('return')
    expect(coverageFor(device, 'door_seal', at('2025-01-10T00:00:00Z')).remedy).toBe('exchange')
    expect(coverageFor(device, 'door_seal', at('2025-01-16T00:00:00Z')).remedy).toBe('repair')
  })

  it('describes catalogue faults, firmware codes and unknown codes', () => {
    expect(faultInfo(device, { faultCode: 'REF-LEAK', component: 'sealed_system', message: 'm' })).toMatchObject({ name: 'Refrigerant leak', impact: 'high', componentName: 'Sealed refrigerant system' })
    expect(faultInfo(device, { faultCode: 'E1', component: 'control_board', message: 'm' })).toMatchObject({ impact: 'medium', parts: [{ partNumber: 'RF-CB-5101', name: 'Cabinet NTC sensor' }] })
    expect(faultInfo(device, { faultCode: 'X-99', component: 'mystery', message: 'odd signal' })).toEqual({ name: 'X-99', description: 'odd signal', impact: 'medium', parts: [], componentName: 'mystery' })
  })

  it('priority and deadlines: an out-of-warranty medium-impact watch is P3, visited in P3 working hours before the failure', () => {
    const ev = event(device.id, { faultCode: 'REF-DSEAL', component: 'door_seal', severity: 'watch' })
    const detected = at('2027-05-01T10:00:00Z') // a Saturday
    const t = buildTicket(defaultTicketPolicy, { id: 'tk-1', device, event: ev, detectedAtMs: detected, nowMs: detected + 50, healthScore: 88, publicUrl: 'http://x/' })
    expect(t.priority).toBe('P3')
    // Failure from Mon 10 May 10:00 (216 h); a day before is Sunday, so the last P3 working moment before it: Fri 18:00.
    expect(t.sla).toMatchObject({ policy: 'predicted', respondBy: '2027-05-07T18:00:00.000Z', closeBy: '2027-05-10T10:00:00.000Z' })
    // Confirm within 4 working hours: Monday 08:00 + 4 h.
    expect(t.sla.confirmBy).toBe('2027-05-03T12:00:00.000Z')
    const fw = buildTicket(defaultTicketPolicy, {
      id: 'tk-2', device, event: { ...ev, source: 'firmware', severity: 'critical', rul: null }, detectedAtMs: detected, nowMs: detected, healthScore: null, publicUrl: '',
    })
    // A critical firmware code is a breakdown: the tier clock in calendar time, weekend or not.
    expect(fw.priority).toBe('P2')
    expect(fw.sla).toMatchObject({ policy: 'breakdown', breakdownAt: '2027-05-01T10:00:00.000Z', confirmBy: '2027-05-01T10:03:00.000Z', planBy: '2027-05-01T13:00:00.000Z', respondBy: '2027-05-01T14:00:00.000Z', closeBy: '2027-05-04T10:00:00.000Z', onFailure: null })
    expect(t.createdAt).toBe('2027-05-01T10:00:00.050Z')
    expect(t.links).toEqual({ healthRecord: `http://x/devices/${device.id}`, history: `http://x/devices/${device.id}/history`, grafana: null })
  })

  it('fills the Grafana link template over the look-back range', () => {
    const p = parseTicketPolicy({ grafanaUrlTemplate: 'http://g/d/dev?var-device={deviceId}&from={from}&to={to}', grafanaLookbackHours: 1 })
    const t = buildTicket(p, { id: 'tk-1', device, event: event(device.id), detectedAtMs: 10 * H, nowMs: 10 * H, healthScore: null, publicUrl: '' })
    expect(t.links.grafana).toBe(`http://g/d/dev?var-device=${device.id}&from=${9 * H}&to=${10 * H + 24 * H}`)
  })

  it('a joined warning adds its parts once and only raises the priority', () => {
    const detected = at('2027-05-01T10:00:00Z')
    const first = buildTicket(defaultTicketPolicy, {
      id: 'tk-1', device, event: event(device.id, { faultCode: 'REF-DSEAL', component: 'door_seal', severity: 'watch' }),
      detectedAtMs: detected, nowMs: detected, healthScore: null, publicUrl: '',
    })
    const joined = joinWarning(defaultTicketPolicy, first, device, event(device.id, { faultCode: 'REF-LEAK', component: 'sealed_system', episodeId: 'e2', severity: 'critical' }), detected + H)
    expect(joined.priority).toBe('P1')
    expect(joined.warningIds).toEqual([first.episodeId, 'e2'])
    expect(joined.parts.map((p) => p.partNumber)).toEqual(['RF-DS-3301', 'RF-SS-1120', 'RF-SS-1134'])
    expect(joined.sla.anchoredAt).toBe(first.sla.anchoredAt)
    // Still a prediction, now on P1's clock: every deadline at or before the first one's.
    expect(joined.sla.policy).toBe('predicted')
    for (const k of ['confirmBy', 'planBy', 'respondBy', 'closeBy'] as const) expect(joined.sla[k] <= first.sla[k]).toBe(true)
    expect(joinWarning(defaultTicketPolicy, joined, device, event(device.id, { episodeId: 'e2' }), detected + 2 * H)).toBe(joined)
  })

  it('a critical firmware code joining a predicted ticket starts the breakdown clock at its detection', () => {
    const detected = at('2027-05-01T10:00:00Z')
    const first = buildTicket(defaultTicketPolicy, { id: 'tk-1', device, event: event(device.id), detectedAtMs: detected, nowMs: detected, healthScore: null, publicUrl: '' })
    expect(first.sla.policy).toBe('predicted')
    const code = event(device.id, { faultCode: 'E1', component: 'control_board', episodeId: 'fw', source: 'firmware', severity: 'critical', rul: null })
    const joined = joinWarning(defaultTicketPolicy, first, device, code, detected + 3 * H, detected + 2 * H)
    expect(joined.sla).toMatchObject({
      policy: 'breakdown', anchoredAt: first.sla.anchoredAt, breakdownAt: '2027-05-01T12:00:00.000Z', onFailure: null,
      confirmBy: '2027-05-01T12:03:00.000Z', respondBy: '2027-05-01T14:00:00.000Z',
    })
    expect(joined.sla.reason).toMatch(/^Breakdown \(the appliance reported a critical fault code\): P1 clock/)
  })

  it('a warning joining after the predicted failure time keeps the breakdown clock that took over', () => {
    const detected = at('2027-05-01T10:00:00Z')
    const first = buildTicket(defaultTicketPolicy, { id: 'tk-1', device, event: event(device.id), detectedAtMs: detected, nowMs: detected, healthScore: null, publicUrl: '' })
    const failure = Date.parse(first.sla.failureExpectedAt!)
    const late = failure + 5 * H
    const joined = joinWarning(defaultTicketPolicy, first, device, event(device.id, { faultCode: 'REF-DSEAL', component: 'door_seal', episodeId: 'e2' }), late, late)
    expect(joined.sla).toMatchObject({ policy: 'breakdown', breakdownAt: first.sla.failureExpectedAt, respondBy: first.sla.onFailure!.respondBy, onFailure: null })
  })
})

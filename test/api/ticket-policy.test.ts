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

  it('priority and deadlines: an out-of-warranty medium-impact watch is P3, response in 24 h', () => {
    const ev = event(device.id, { faultCode: 'REF-DSEAL', component: 'door_seal', severity: 'watch' })
    const detected = at('2027-05-01T10:00:00Z')
    const t = buildTicket(defaultTicketPolicy, { id: 'tk-1', device, event: ev, detectedAtMs: detected, nowMs: detected + 50, healthScore: 88, publicUrl: 'http://x/' })
    expect(t.priority).toBe('P3')
    expect(t.sla.respondBy).toBe('2027-05-02T10:00:00.000Z')
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
    expect(joinWarning(defaultTicketPolicy, joined, device, event(device.id, { episodeId: 'e2' }), detected + 2 * H)).toBe(joined)
  })
})

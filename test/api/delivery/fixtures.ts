/** A realistic ticket, built by the real ticket policy from a device and a detector event. */
import { buildTicket, defaultTicketPolicy } from '../../../api/ticket-policy.ts'
import type { Device, DetectorEvent } from '../../../domain/index.ts'
import type { TicketForDelivery } from '../../../api/delivery/types.ts'

export const detectedAtMs = Date.parse('2026-03-02T08:15:00Z')

export function sampleTicket(id = 'tk-abcdefghijkl', serial = 'SIM-00005', over: Partial<DetectorEvent> = {}): TicketForDelivery {
  const device: Device = {
    id: 'ref-sim00005aaaa', type: 'refrigerator', model: 'FW-R500', serial, region: 'eu-west',
    installDate: '2025-06-01', warranty: { standardEnd: '2027-05-31', extended: [] }, ownerRef: 'CUST-1042',
    gatewayId: null, createdAt: '2025-06-01T10:00:00.000Z', connection: 'online', lastSeen: null, revoked: false,
  }
  const event: DetectorEvent = {
    kind: 'warning.raised', deviceId: device.id, episodeId: `${device.id}:REF-CFAN:1`, faultCode: 'REF-CFAN',
    component: 'condenser_fan', severity: 'critical', eventTime: detectedAtMs - 60_000,
    message: 'condenser fan current collapsing', source: 'detector',
    evidence: [{ feature: 'condenser_fan_current_a', value: 0.05, baseline: 0.42, deviation: -9.3, slopePerDay: -0.08, detail: 'fan current fell to 12 % of its baseline' }],
    rul: { medianHours: 36, lowHours: 20, highHours: 60 },
    ...over,
  }
  return buildTicket(defaultTicketPolicy, {
    id, device, event, detectedAtMs, nowMs: detectedAtMs + 1_000, healthScore: 31, publicUrl: 'http://forewarn.test',
  })
}

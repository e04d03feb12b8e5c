/**
 * Helpers every console template gets (@fastify/view's defaultContext). Times are rendered in UTC
 * on the server; the page script rewrites them into the reader's own time zone.
 */
import type { HistoryEntry } from '../store/types.ts'
import type { SlaStatus } from './views.ts'

const MIN = 60_000

export function when(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`
}

/** "2 h 05 min", "3 days 4 h", "40 s" — for clocks. */
export function shortDuration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`
  return `${Math.floor(h / 24)} days ${h % 24} h`
}

/** The clock as first rendered; the page script keeps it running. */
export function clock(dueIso: string, nowMs = Date.now()): string {
  const left = Date.parse(dueIso) - nowMs
  return left >= 0 ? `${shortDuration(left)} left` : `${shortDuration(left)} late`
}

export const slaText = (s: SlaStatus) => (s === 'on_time' ? 'on time' : s === 'at_risk' ? 'at risk' : 'breached')

export function hours(h: number): string {
  if (h < 1) return 'under an hour'
  if (h < 48) return `${Math.round(h)} hours`
  return `${Math.round(h / 24)} days`
}

const historyKinds: Readonly<Record<string, string>> = {
  'device.provisioned': 'Appliance registered',
  'device.revoked': 'Appliance credentials revoked',
  'device.credentials_rotated': 'Appliance password changed',
  'warning.raised': 'Warning raised',
  'warning.escalated': 'Warning became more severe',
  'warning.cleared': 'Warning cleared',
  'warning.held': 'Warning held during a repair',
  'warning.quieted': 'Warning quieted (no fault found recently)',
  'ticket.opened': 'Repair ticket opened',
  'ticket.warning_joined': 'Warning joined an open ticket',
  'ticket.escalated': 'Ticket priority raised',
  'ticket.acknowledged': 'Ticket confirmed',
  'ticket.scheduled': 'Technician visit planned',
  'ticket.in_progress': 'Technician at work',
  'ticket.resolved': 'Ticket resolved',
  'ticket.cancelled': 'Ticket cancelled',
}

export function historyText(h: HistoryEntry): string {
  const what = historyKinds[h.kind] ?? h.kind
  const d = h.data
  const bits: string[] = []
  if (typeof d.faultCode === 'string') bits.push(d.faultCode)
  if (typeof d.ticketId === 'string') bits.push(`ticket ${d.ticketId}`)
  if (typeof d.outcome === 'string') bits.push(d.outcome.replaceAll('_', ' '))
  if (typeof d.severity === 'string') bits.push(d.severity)
  return bits.length === 0 ? what : `${what}: ${bits.join(', ')}`
}

export const templateHelpers = { when, clock, slaText, hours, historyText, MIN }

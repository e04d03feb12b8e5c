/**
 * What the console pages show, computed from the store: pure functions over records plus one
 * gatherer per page. Templates only lay these out.
 */
import { applianceSpec, effectiveSla, loadedTypes, findFault, type ApplianceType, type HealthStatus, type SlaPolicyKind } from '../../domain/index.ts'
import { evidenceWords, featureLabel, remainingLifeWords } from '../../domain/words.ts'
import type { AnyStore } from '../store/open.ts'
import type { Device } from '../../domain/index.ts'
import type { HistoryEntry, OutboxRow, StoredWarning, TicketRecord } from '../store/types.ts'
import type { WarningView } from '../schemas.ts'

export const healthStatuses: readonly HealthStatus[] = ['critical', 'warning', 'watch', 'healthy', 'offline']
const openStates = ['open', 'acknowledged', 'scheduled', 'in_progress'] as const
const severityRankOf = { critical: 3, warning: 2, watch: 1 } as const

export const applianceName = (type: ApplianceType) => applianceSpec(type).name

/** The fault in plain words: the catalogue's name and description, else the detector's message. */
export function faultWords(type: ApplianceType, w: Pick<WarningView, 'faultCode' | 'message'>): { name: string; description: string } {
  const f = findFault(type, w.faultCode)
  if (f === undefined) return { name: w.message, description: w.message }
  return 'meaning' in f ? { name: f.meaning, description: f.meaning } : { name: f.name, description: f.description }
}

export interface WarningRow {
  id: string
  deviceId: string
  appliance: string
  model: string
  region: string
  fault: string
  description: string
  severity: StoredWarning['severity']
  source: StoredWarning['source']
  lifeText: string
  /** Hours used to sort: the low end of remaining life; 0 for a breakdown the appliance reported itself. */
  urgencyHours: number
  ticketId: string | null
  eventTime: string
}

export function warningRow(w: StoredWarning | WarningView, device: Pick<Device, 'type' | 'model' | 'region'>): WarningRow {
  const fault = faultWords(device.type, w)
  const urgencyHours = w.rul !== null ? w.rul.lowHours : w.source === 'firmware' ? 0 : Number.POSITIVE_INFINITY
  return {
    id: w.id, deviceId: w.deviceId, appliance: applianceName(device.type), model: device.model, region: device.region,
    fault: fault.name, description: fault.description, severity: w.severity, source: w.source,
    lifeText: w.rul !== null ? `failure expected ${remainingLifeWords(w.rul)}`
      : w.source === 'firmware' ? 'reported by the appliance: act now' : 'no estimate yet (too little trend)',
    urgencyHours, ticketId: w.ticketId ?? null, eventTime: new Date(w.eventTime).toISOString(),
  }
}

/** Most urgent first: least remaining life, then the higher severity, then the earlier warning. */
export function byUrgency(a: WarningRow, b: WarningRow): number {
  // Two warnings without an estimate give NaN (∞ − ∞), which falls through to severity like a tie.
  return a.urgencyHours - b.urgencyHours || severityRankOf[b.severity] - severityRankOf[a.severity] || a.eventTime.localeCompare(b.eventTime)
}

export type SlaStatus = 'on_time' | 'at_risk' | 'breached'

export interface SlaRow {
  ticketId: string
  deviceId: string
  appliance: string
  priority: TicketRecord['priority']
  state: TicketRecord['state']
  stateText: string
  promise: string
  startedAt: string
  due: string
  status: SlaStatus
  /** Which clock applies: a predicted fault's visit before the failure, or the breakdown tier clock. */
  policy: SlaPolicyKind
  policyText: string
  /** Why, in full (the ticket's `sla.reason`, or the escalation). */
  reason: string
}

const nextPromise = {
  open: { key: 'confirmBy', text: 'confirm the fault' },
  acknowledged: { key: 'planBy', text: 'plan the visit' },
  scheduled: { key: 'respondBy', text: 'technician on site', predicted: 'technician visit' },
  in_progress: { key: 'closeBy', text: 'repair done' },
} as const

export const stateWords: Readonly<Record<TicketRecord['state'], string>> = {
  open: 'open, not yet confirmed',
  acknowledged: 'confirmed',
  scheduled: 'visit planned',
  in_progress: 'technician at work',
  resolved: 'resolved',
  cancelled: 'cancelled',
}

/** A quarter of the promised time or less left is "at risk"; past the deadline is "breached". The page clock recomputes this every second. */
export function slaStatus(startMs: number, dueMs: number, nowMs: number): SlaStatus {
  if (nowMs > dueMs) return 'breached'
  return dueMs - nowMs <= (dueMs - startMs) / 4 ? 'at_risk' : 'on_time'
}

/** "predicted fault: visit before the expected failure" / "breakdown: P1 clock" */
export function policyWords(policy: SlaPolicyKind, escalated: boolean, priority: TicketRecord['priority']): string {
  if (escalated) return `breakdown: predicted failure reached, ${priority} clock`
  return policy === 'predicted' ? 'predicted fault: visit before the expected failure' : `breakdown: ${priority} clock`
}

/** The next promise an open ticket has to keep by the clock in force, and how it stands now; null for closed tickets. */
export function slaRow(t: TicketRecord, nowMs: number): SlaRow | null {
  if (t.state === 'resolved' || t.state === 'cancelled') return null
  const next = nextPromise[t.state]
  const e = effectiveSla(t, nowMs)
  const due = e[next.key]
  return {
    ticketId: t.id, deviceId: t.deviceId, appliance: `${applianceName(t.appliance.type)} ${t.appliance.model}`, priority: t.priority,
    state: t.state, stateText: stateWords[t.state], promise: e.policy === 'predicted' && 'predicted' in next ? next.predicted : next.text,
    startedAt: e.startedAt, due,
    status: slaStatus(Date.parse(e.startedAt), Date.parse(due), nowMs),
    policy: e.policy, policyText: policyWords(e.policy, e.escalated, t.priority), reason: e.reason,
  }
}

const slaOrder: Readonly<Record<SlaStatus, number>> = { breached: 0, at_risk: 1, on_time: 2 }

async function all<T>(page: (after: string | undefined) => Promise<{ items: T[]; next: string | null }> | { items: T[]; next: string | null }, maxPages = 100): Promise<T[]> {
  const out: T[] = []
  let after: string | undefined
  for (let i = 0; i < maxPages; i++) {
    const p = await page(after)
    out.push(...p.items)
    if (p.next === null) break
    after = p.next
  }
  return out
}

export interface FleetView {
  total: number
  byStatus: Array<{ status: HealthStatus; n: number }>
  byType: Array<{ type: ApplianceType; name: string; n: number }>
  byRegion: Array<{ region: string; n: number }>
  warnings: WarningRow[]
  sla: SlaRow[]
  devices: Array<{ id: string; appliance: string; model: string; region: string; status: HealthStatus; connection: Device['connection'] }>
  /** Changes whenever anything on the page would: the live channel compares it. */
  fingerprint: string
}

export async function fleetView(store: AnyStore, nowMs: number): Promise<FleetView> {
  const devices = await all((after) => store.listDevices({ limit: 1000, after }))
  const byId = new Map(devices.map((d) => [d.id, d]))
  // One read for the whole fleet (not one health record per device every refresh).
  const statuses = await store.healthStatuses()
  const statusOf = new Map<string, HealthStatus>(devices.map((d) => [d.id, statuses[d.id] ?? 'offline']))
  const byStatus = healthStatuses.map((status) => ({ status, n: [...statusOf.values()].filter((s) => s === status).length }))
  const byType = loadedTypes().map((type) => ({ type, name: applianceName(type), n: devices.filter((d) => d.type === type).length })).filter((x) => x.n > 0)
  const regions = new Map<string, number>()
  for (const d of devices) regions.set(d.region, (regions.get(d.region) ?? 0) + 1)
  const active = await all((after) => store.listWarnings({ limit: 1000, after, state: 'active' }))
  const warnings = active.flatMap((w) => {
    const d = byId.get(w.deviceId)
    return d === undefined ? [] : [warningRow(w, d)]
  }).sort(byUrgency)
  const open: TicketRecord[] = []
  for (const state of openStates) open.push(...await all((after) => store.listTickets({ limit: 1000, after, state })))
  const sla = open.flatMap((t) => slaRow(t, nowMs) ?? []).sort((a, b) => slaOrder[a.status] - slaOrder[b.status] || a.due.localeCompare(b.due))
  const list = devices.map((d) => ({ id: d.id, appliance: applianceName(d.type), model: d.model, region: d.region, status: statusOf.get(d.id) ?? 'offline', connection: d.connection }))
  const fingerprint = JSON.stringify([list.map((d) => [d.id, d.status, d.connection]), warnings.map((w) => [w.id, w.severity, w.lifeText, w.ticketId]), sla.map((s) => [s.ticketId, s.state, s.due, s.policy])])
  return {
    total: devices.length, byStatus, byType, byRegion: [...regions].map(([region, n]) => ({ region, n })).sort((a, b) => b.n - a.n || a.region.localeCompare(b.region)),
    warnings, sla, devices: list, fingerprint,
  }
}

export interface ComponentRow { id: string; name: string; score: number; reason: string }

export function componentRows(type: ApplianceType, components: Record<string, { score: number; reason: string }>): ComponentRow[] {
  return applianceSpec(type).components.flatMap((c) => {
    const h = components[c.id]
    return h === undefined ? [] : [{ id: c.id, name: c.name, score: Math.round(h.score), reason: h.reason }]
  })
}

/** Chart metadata per metric: plain description and unit from the catalogue. */
export function metricMeta(type: ApplianceType) {
  return applianceSpec(type).metrics.map((m) => ({ name: m.name, ...featureLabel(type, m.name) }))
}

export function evidenceRows(type: ApplianceType, evidence: TicketRecord['evidence']): string[] {
  return evidence.map((e) => evidenceWords(type, e))
}

/** Newest `n` history entries (the chain is paged oldest first). */
export async function recentHistory(store: AnyStore, deviceId: string, n: number): Promise<HistoryEntry[]> {
  const entries = await all((after) => store.history(deviceId, { limit: 1000, after }))
  return entries.slice(-n).reverse()
}

export async function allHistory(store: AnyStore, deviceId: string): Promise<HistoryEntry[]> {
  return all((after) => store.history(deviceId, { limit: 1000, after }))
}

export async function deviceTickets(store: AnyStore, deviceId: string): Promise<TicketRecord[]> {
  return (await all((after) => store.listTickets({ limit: 1000, after, deviceId }))).reverse()
}

export interface DeliveryRow { adapter: string; event: string; state: OutboxRow['state'] | 'published'; attempts: number; lastError: string | null; externalRef: string | null; createdAt: string }

export async function deliveries(store: AnyStore, ticketId: string): Promise<DeliveryRow[]> {
  const rows = await all((after) => store.listOutbox({ limit: 1000, after, ticketId }))
  return rows.map((o) => ({
    adapter: o.adapter === 'feed' ? 'pull feed' : o.adapter, event: o.event, // Feed rows are published for receivers to pull; Forewarn does not learn who pulled them.
    state: o.adapter === 'feed' ? 'published' : o.state,
    attempts: o.attempts, lastError: o.lastError, externalRef: o.externalRef, createdAt: o.createdAt,
  }))
}

export const payerWords: Readonly<Record<TicketRecord['warranty']['payer'], string>> = {
  manufacturer: 'the manufacturer (standard warranty)',
  extended_warranty_provider: 'the extended-warranty provider',
  customer: 'the customer (out of warranty)',
}

export const coverageWords: Readonly<Record<TicketRecord['warranty']['coverage'], string>> = {
  warranty: 'in standard warranty',
  extended_warranty: 'covered by an extended warranty for this component',
  out_of_warranty: 'out of warranty',
}

export const remedyWords: Readonly<Record<TicketRecord['warranty']['remedy'], string>> = {
  return: 'the customer may still return the appliance (7 days)',
  exchange: 'the customer may still exchange the appliance (15 days)',
  repair: 'repair',
}

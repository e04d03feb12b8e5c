/**
 * Ticket policy: which warnings open proactive tickets, how warnings of one appliance join one
 * ticket, and what the ticket says. A validated configuration object with defaults (a JSON file
 * via loadTicketPolicy), and pure functions over it — the store calls them inside its transaction.
 */
import { readFileSync } from 'node:fs'
import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import {
  applianceSpec, clockOf, defaultSla, ErrorCode, findFault, ForewarnError, isTimeZone, priorityFor, settleSla, severityRank, slaClockFor, updateClock,
} from '../domain/index.ts'
import type { Coverage, Device, DetectorEvent, FaultImpact, Priority, PredictedTargets, Severity, SlaTargets, SparePart, TierTargets } from '../domain/index.ts'
import type { TicketRecord } from './schemas.ts'

const SeverityEnum = Type.Enum(['watch', 'warning', 'critical'])
const Positive = (def: number, description: string) => Type.Number({ exclusiveMinimum: 0, default: def, description })

const HourMinute = Type.String({ pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$', description: 'local time HH:MM' })
const WorkingHoursSchema = Type.Object({
  days: Type.Array(Type.Integer({ minimum: 1, maximum: 7 }), { minItems: 1, uniqueItems: true, description: 'ISO weekdays, 1 = Monday … 7 = Sunday' }),
  start: HourMinute,
  end: HourMinute,
}, { additionalProperties: false })
const PredictedSchema = Type.Object({
  marginHours: Type.Optional(Type.Number({ minimum: 0, description: 'visit this long before the low end of the remaining-life interval' })),
  confirmWorkingHours: Type.Optional(Positive(4, 'confirm a predicted fault within these working hours')),
  planWorkingHours: Type.Optional(Positive(8, 'plan the visit within these working hours')),
  noEstimateDays: Type.Optional(Positive(4, 'without a remaining-life estimate, failure is assumed this many days after detection')),
}, { additionalProperties: false })
const TierSchema = Type.Object({ workingHours: Type.Optional(WorkingHoursSchema), predicted: Type.Optional(PredictedSchema) }, { additionalProperties: false })

export const TicketPolicySchema = Type.Object(
  {
    minSeverity: Type.Optional(SeverityEnum),
    mergeWindowHours: Type.Optional(Type.Number({ minimum: 0, description: 'warnings of one appliance within this window join one ticket' })),
    sources: Type.Optional(Type.Array(Type.Enum(['detector', 'firmware']), { minItems: 1 })),
    sla: Type.Optional(Type.Object({
      confirmMinutes: Type.Optional(Positive(defaultSla.confirmMinutes, 'breakdown: confirm within')),
      planHours: Type.Optional(Positive(defaultSla.planHours, 'breakdown: plan within')),
      closeDays: Type.Optional(Positive(defaultSla.closeDays, 'breakdown: close within')),
      responseHours: Type.Optional(Type.Object({
        P1: Type.Optional(Positive(2, 'P1 breakdown: on site within')), P2: Type.Optional(Positive(4, 'P2 breakdown: on site within')),
        P3: Type.Optional(Positive(24, 'P3 breakdown: on site within')),
      }, { additionalProperties: false })),
      timeZone: Type.Optional(Type.String({ minLength: 1, default: 'UTC', description: 'IANA time zone the working hours are read in' })),
      predicted: Type.Optional(PredictedSchema),
      tiers: Type.Optional(Type.Object({ P1: Type.Optional(TierSchema), P2: Type.Optional(TierSchema), P3: Type.Optional(TierSchema) }, { additionalProperties: false })),
    }, { additionalProperties: false })),
    /** `{deviceId}`, `{from}`, `{to}` (ms) are filled in; null leaves the link out. */
    grafanaUrlTemplate: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
    /** How much time before detection the Grafana link shows. */
    grafanaLookbackHours: Type.Optional(Positive(72, 'Grafana link starts this long before detection')),
    noFaultFoundQuietDays: Type.Optional(Type.Number({ minimum: 0, description: 'after "no fault found", the same fault on that device opens no ticket for this long' })),
    repeatRepairDays: Type.Optional(Type.Number({ minimum: 0, description: 'a fault of a component repaired this recently is flagged as a repeat repair' })),
  },
  { additionalProperties: false },
)

export interface TicketPolicy {
  minSeverity: Severity
  mergeWindowHours: number
  sources: ReadonlyArray<'detector' | 'firmware'>
  sla: SlaTargets
  grafanaUrlTemplate: string | null
  grafanaLookbackHours: number
  noFaultFoundQuietDays: number
  repeatRepairDays: number
}

export const defaultTicketPolicy: Readonly<TicketPolicy> = {
  minSeverity: 'warning',
  mergeWindowHours: 24,
  sources: ['detector', 'firmware'],
  sla: defaultSla,
  grafanaUrlTemplate: null,
  grafanaLookbackHours: 72,
  noFaultFoundQuietDays: 14,
  repeatRepairDays: 30,
}

const checkPolicy = Compile(TicketPolicySchema)

/** Validates a (partial) policy and fills in defaults; a bad policy is a clear CONFIG error at start-up. */
export function parseTicketPolicy(input: unknown): TicketPolicy {
  if (!checkPolicy.Check(input)) {
    const first = [...checkPolicy.Errors(input)][0]
    const where = first === undefined ? '' : ` at ${first.instancePath || '/'}: ${first.message}`
    throw new ForewarnError(ErrorCode.CONFIG, `invalid ticket policy${where}`)
  }
  const p = input as Static<typeof TicketPolicySchema>
  return {
    minSeverity: p.minSeverity ?? defaultTicketPolicy.minSeverity,
    mergeWindowHours: p.mergeWindowHours ?? defaultTicketPolicy.mergeWindowHours,
    sources: p.sources ?? defaultTicketPolicy.sources,
    sla: p.sla === undefined ? defaultTicketPolicy.sla : slaTargets(p.sla),
    grafanaUrlTemplate: p.grafanaUrlTemplate ?? null,
    grafanaLookbackHours: p.grafanaLookbackHours ?? defaultTicketPolicy.grafanaLookbackHours,
    noFaultFoundQuietDays: p.noFaultFoundQuietDays ?? defaultTicketPolicy.noFaultFoundQuietDays,
    repeatRepairDays: p.repeatRepairDays ?? defaultTicketPolicy.repeatRepairDays,
  }
}

type SlaInput = NonNullable<Static<typeof TicketPolicySchema>['sla']>

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3))

/** The service-level part of a policy file over the defaults: every key may be left out; `predicted` applies to every tier, `tiers.Px.predicted` to one. */
function slaTargets(input: SlaInput): SlaTargets {
  const d = defaultSla
  const timeZone = input.timeZone ?? d.timeZone
  if (!isTimeZone(timeZone)) throw new ForewarnError(ErrorCode.CONFIG, `invalid ticket policy at /sla/timeZone: unknown time zone ${timeZone}`)
  const tier = (p: Priority): TierTargets => {
    const t = input.tiers?.[p]
    const wh = t?.workingHours ?? d.tiers[p].workingHours
    if (minutesOf(wh.start) >= minutesOf(wh.end)) throw new ForewarnError(ErrorCode.CONFIG, `invalid ticket policy at /sla/tiers/${p}/workingHours: start must be before end`)
    const predicted: PredictedTargets = { ...d.tiers[p].predicted, ...input.predicted, ...t?.predicted }
    return { workingHours: wh, predicted }
  }
  return {
    confirmMinutes: input.confirmMinutes ?? d.confirmMinutes,
    planHours: input.planHours ?? d.planHours,
    closeDays: input.closeDays ?? d.closeDays,
    responseHours: { ...d.responseHours, ...input.responseHours },
    timeZone,
    tiers: { P1: tier('P1'), P2: tier('P2'), P3: tier('P3') },
  }
}

export function loadTicketPolicy(path: string): TicketPolicy {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (cause) {
    throw new ForewarnError(ErrorCode.CONFIG, `cannot read ticket policy ${path}`, { cause })
  }
  return parseTicketPolicy(raw)
}

/** Does a warning at this severity from this source warrant a proactive ticket? */
export function opensTicket(policy: TicketPolicy, severity: Severity, source: 'detector' | 'firmware'): boolean {
  return policy.sources.includes(source) && severityRank[severity] >= severityRank[policy.minSeverity]
}

export interface OpenTicketRef {
  id: string
  createdAtMs: number
}

/** The newest open ticket of the appliance opened within the merge window, if any. */
export function mergeTarget(policy: TicketPolicy, open: readonly OpenTicketRef[], detectedAtMs: number): OpenTicketRef | null {
  const windowMs = policy.mergeWindowHours * 3_600_000
  let best: OpenTicketRef | null = null
  for (const t of open) {
    if (detectedAtMs - t.createdAtMs > windowMs || t.createdAtMs > detectedAtMs + windowMs) continue
    if (best === null || t.createdAtMs > best.createdAtMs) best = t
  }
  return best
}

export interface CoverageResult {
  coverage: Coverage
  payer: 'manufacturer' | 'extended_warranty_provider' | 'customer'
  extendedEnd: string | null
  remedy: 'return' | 'exchange' | 'repair'
}

const DAY_MS = 86_400_000
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/**
 * Who pays, on the day of detection: standard warranty (end inclusive), else an extended warranty
 * bought for this component, else the customer. Within 7 days of installation the customer may
 * return the appliance, within 15 days exchange it.
 */
export function coverageFor(device: Pick<Device, 'warranty' | 'installDate'>, component: string, atMs: number): CoverageResult {
  const day = dayOf(atMs)
  const ext = (device.warranty.extended ?? []).filter((e) => e.component === component).map((e) => e.end).sort().at(-1) ?? null
  const ageDays = Math.floor((Date.parse(day) - Date.parse(device.installDate)) / DAY_MS)
  const remedy = ageDays < 7 ? 'return' : ageDays < 15 ? 'exchange' : 'repair'
  if (day <= device.warranty.standardEnd) return { coverage: 'warranty', payer: 'manufacturer', extendedEnd: ext, remedy }
  if (ext !== null && day <= ext) return { coverage: 'extended_warranty', payer: 'extended_warranty_provider', extendedEnd: ext, remedy }
  return { coverage: 'out_of_warranty', payer: 'customer', extendedEnd: ext, remedy }
}

export interface FaultInfo {
  name: string
  description: string
  impact: FaultImpact
  parts: SparePart[]
  componentName: string
}

/**
 * The catalogue's meaning of a fault code. A code the catalogue does not name (ANOMALY: the
 * engine saw the machine leave its normal) keeps the detector's message and brings the parts of
 * the component it points at: the component's own list, else those of its fault modes.
 */
export function faultInfo(device: Pick<Device, 'type'>, ev: Pick<DetectorEvent, 'faultCode' | 'component' | 'message'>): FaultInfo {
  const spec = applianceSpec(device.type)
  const component = spec.components.find((c) => c.id === ev.component)
  const componentName = component?.name ?? ev.component
  const f = findFault(device.type, ev.faultCode)
  if (f === undefined) {
    const parts = new Map<string, SparePart>()
    for (const p of component?.parts ?? spec.faults.filter((x) => x.component === ev.component).flatMap((x) => x.parts)) parts.set(p.partNumber, p)
    const name = ev.faultCode === 'ANOMALY' ? `Anomaly: ${componentName}` : ev.faultCode
    return { name, description: ev.message, impact: 'medium', parts: [...parts.values()], componentName }
  }
  if ('meaning' in f) {
    return { name: f.meaning, description: f.meaning, impact: f.severity === 'critical' ? 'high' : 'medium', parts: [...f.parts], componentName }
  }
  return { name: f.name, description: f.description, impact: f.impact, parts: [...f.parts], componentName }
}

const priorityRank: Readonly<Record<Priority, number>> = { P1: 3, P2: 2, P3: 1 }
export const higherPriority = (a: Priority, b: Priority): Priority => (priorityRank[a] >= priorityRank[b] ? a : b)

export interface TicketInput {
  id: string
  device: Device
  event: DetectorEvent
  detectedAtMs: number
  nowMs: number
  healthScore: number | null
  publicUrl: string
  /** The repair of this component that the fault came back after (within `repeatRepairDays`), if any. */
  repeatOf?: RepeatOf | null
  /** The owner's repair-status token (store/status-link.ts); the link is left out without one. */
  statusToken?: string | undefined
}

export type RepeatOf = NonNullable<TicketRecord['repeatOf']>

/** Everything a technician needs on the first visit, from the data Forewarn holds. */
export function buildTicket(policy: TicketPolicy, t: TicketInput): TicketRecord {
  const { device, event } = t
  const cov = coverageFor(device, event.component, t.detectedAtMs)
  const info = faultInfo(device, event)
  const priority = priorityFor(info.impact, event.severity, cov.coverage)
  const base = t.publicUrl.replace(/\/+$/, '')
  const grafana = policy.grafanaUrlTemplate === null ? null : policy.grafanaUrlTemplate
    .replaceAll('{deviceId}', encodeURIComponent(device.id))
    .replaceAll('{from}', String(t.detectedAtMs - policy.grafanaLookbackHours * 3_600_000))
    .replaceAll('{to}', String(t.detectedAtMs + DAY_MS))
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    id: t.id,
    episodeId: event.episodeId,
    warningIds: [event.episodeId],
    deviceId: device.id,
    state: 'open',
    priority,
    appliance: {
      type: device.type, model: device.model, serial: device.serial, region: device.region,
      installDate: device.installDate, ownerRef: device.ownerRef,
    },
    warranty: { coverage: cov.coverage, payer: cov.payer, standardEnd: device.warranty.standardEnd, extendedEnd: cov.extendedEnd, remedy: cov.remedy },
    fault: {
      code: event.faultCode, component: event.component, componentName: info.componentName, name: info.name,
      description: info.description, impact: info.impact, severity: event.severity, source: event.source,
    },
    evidence: event.evidence,
    rul: event.rul,
    healthScore: t.healthScore,
    parts: info.parts,
    sla: slaClockFor(t.detectedAtMs, priority, event, policy.sla),
    links: {
      healthRecord: `${base}/devices/${device.id}`, history: `${base}/devices/${device.id}/history`, grafana,
      ...(t.statusToken === undefined ? {} : { status: `${base}/status/${t.statusToken}` }),
    },
    resolution: null,
    repeatRepair: t.repeatOf != null,
    repeatOf: t.repeatOf ?? null,
    detectedAt: iso(t.detectedAtMs),
    createdAt: iso(t.nowMs),
    updatedAt: iso(t.nowMs),
  }
}

/**
 * A later warning of the same appliance joins an open ticket: parts and evidence add up, priority
 * only rises, deadlines only tighten; a breakdown (critical firmware code) starts the breakdown clock.
 * `detectedAtMs` is when the joining warning was detected (defaults to `nowMs`).
 */
export function joinWarning(policy: TicketPolicy, ticket: TicketRecord, device: Device, event: DetectorEvent, nowMs: number, detectedAtMs = nowMs): TicketRecord {
  if (ticket.warningIds.includes(event.episodeId)) return ticket
  const cov = coverageFor(device, event.component, Date.parse(ticket.detectedAt))
  const info = faultInfo(device, event)
  const priority = higherPriority(ticket.priority, priorityFor(info.impact, event.severity, cov.coverage))
  const parts = [...ticket.parts]
  for (const p of info.parts) if (!parts.some((q) => q.partNumber === p.partNumber)) parts.push(p)
  return {
    ...ticket,
    warningIds: [...ticket.warningIds, event.episodeId],
    priority,
    parts,
    evidence: [...ticket.evidence, ...event.evidence],
    sla: updateClock(clockOf(settleSla(ticket, nowMs)), detectedAtMs, priority, event, policy.sla),
    updatedAt: new Date(nowMs).toISOString(),
  }
}

/** A warning already on the ticket got more severe: priority and deadlines may tighten, never loosen; a breakdown starts the breakdown clock. */
export function escalateTicket(policy: TicketPolicy, ticket: TicketRecord, device: Device, event: DetectorEvent, nowMs: number, detectedAtMs = nowMs): TicketRecord {
  const anchor = Date.parse(ticket.sla.anchoredAt)
  const info = faultInfo(device, event)
  const priority = higherPriority(ticket.priority, priorityFor(info.impact, event.severity, coverageFor(device, event.component, anchor).coverage))
  const raise = event.episodeId === ticket.episodeId && severityRank[event.severity] > severityRank[ticket.fault.severity]
  return {
    ...ticket,
    priority,
    fault: raise ? { ...ticket.fault, severity: event.severity } : ticket.fault,
    rul: event.episodeId === ticket.episodeId ? event.rul : ticket.rul,
    sla: updateClock(clockOf(settleSla(ticket, nowMs)), detectedAtMs, priority, event, policy.sla),
    updatedAt: new Date(nowMs).toISOString(),
  }
}

export const ticketTransitions: Readonly<Record<TicketRecord['state'], readonly TicketRecord['state'][]>> = {
  open: ['acknowledged', 'scheduled', 'in_progress', 'resolved', 'cancelled'],
  acknowledged: ['scheduled', 'in_progress', 'resolved', 'cancelled'],
  scheduled: ['in_progress', 'resolved', 'cancelled'],
  in_progress: ['resolved', 'cancelled'],
  resolved: [],
  cancelled: [],
}

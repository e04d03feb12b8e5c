/**
 * Service-level policy. Two clocks, because a fault found days ahead and an appliance that has
 * broken down are different jobs:
 *
 * - **Breakdown** (a critical firmware code, or a predicted failure reached): the tier clocks of the
 *   after-sales literature, in calendar time from the breakdown — confirm within 3 minutes, plan
 *   within 3 hours, close within 3 days ("3-3-3"), technician on site by tier 2 h / 4 h / 24 h.
 * - **Predicted** (a warning with days of remaining life): visit before the predicted failure with
 *   a margin (the low end of the remaining-life interval minus `marginHours`), inside the tier's
 *   working hours; confirm and plan within working hours; repair done before the failure is due.
 *
 * The tier is the ticket's priority (P1/P2/P3). Working hours are local wall-clock times in the
 * policy's IANA time zone (default UTC), converted with the runtime's time-zone data, so a
 * daylight-saving change moves the UTC deadline, not the local one. Deadlines are stored in UTC.
 */
import type { Coverage, Priority, RemainingLife, Severity } from './model.ts'
import type { FaultImpact } from './catalogue.ts'

/** Working days (ISO weekday numbers, 1 = Monday … 7 = Sunday) and local hours "HH:MM" (end "24:00" allowed). */
export interface WorkingHours {
  days: readonly number[]
  start: string
  end: string
}

export interface PredictedTargets {
  /** The visit is due this long before the low end of the remaining-life interval. */
  marginHours: number
  /** Confirm the predicted fault (e.g. call the owner) within this many working hours. */
  confirmWorkingHours: number
  /** Agree the visit with the owner within this many working hours. */
  planWorkingHours: number
  /** Without a remaining-life estimate, the failure is assumed this many days after detection. */
  noEstimateDays: number
}

export interface TierTargets {
  workingHours: WorkingHours
  predicted: PredictedTargets
}

export interface SlaTargets {
  /** Breakdown clock ("3-3-3" and on-site response by tier), calendar time. */
  confirmMinutes: number
  planHours: number
  closeDays: number
  responseHours: Readonly<Record<Priority, number>>
  /** IANA time zone the working hours are read in. */
  timeZone: string
  tiers: Readonly<Record<Priority, TierTargets>>
}

const predictedDefaults: PredictedTargets = { marginHours: 24, confirmWorkingHours: 4, planWorkingHours: 8, noEstimateDays: 4 }

export const defaultSla: SlaTargets = {
  confirmMinutes: 3,
  planHours: 3,
  closeDays: 3,
  responseHours: { P1: 2, P2: 4, P3: 24 },
  timeZone: 'UTC',
  tiers: {
    P1: { workingHours: { days: [1, 2, 3, 4, 5, 6, 7], start: '08:00', end: '20:00' }, predicted: predictedDefaults },
    P2: { workingHours: { days: [1, 2, 3, 4, 5, 6], start: '08:00', end: '18:00' }, predicted: predictedDefaults },
    P3: { workingHours: { days: [1, 2, 3, 4, 5], start: '08:00', end: '18:00' }, predicted: predictedDefaults },
  },
}

const impactPoints: Readonly<Record<FaultImpact, number>> = { high: 3, medium: 2, low: 1 }
const severityPoints: Readonly<Record<Severity, number>> = { critical: 2, warning: 1, watch: 0 }
const coveragePoints: Readonly<Record<Coverage, number>> = { warranty: 1, extended_warranty: 1, out_of_warranty: 0 }

/** Priority from fault impact, urgency and coverage (who pays decides who is promised what). */
export function priorityFor(impact: FaultImpact, severity: Severity, coverage: Coverage): Priority {
  const points = impactPoints[impact] + severityPoints[severity] + coveragePoints[coverage]
  if (points >= 5) return 'P1'
  if (points >= 3) return 'P2'
  return 'P3'
}

export interface SlaDeadlines {
  confirmBy: string
  planBy: string
  /** Technician on site ("visit by" on a predicted fault). */
  respondBy: string
  closeBy: string
}

const H = 3_600_000
const iso = (ms: number) => new Date(ms).toISOString()

/**
 * The promises in the order they are kept: confirm ≤ plan ≤ on site ≤ close. An earlier step due
 * after a later one is pulled forward to it (a visit due in 2 h must be planned by then); a close
 * due before the visit is moved to the visit (a repair cannot be done before anyone arrives).
 */
export function orderDeadlines(d: { confirmBy: number; planBy: number; respondBy: number; closeBy: number }): SlaDeadlines {
  const closeBy = Math.max(d.closeBy, d.respondBy)
  const planBy = Math.min(d.planBy, d.respondBy)
  const confirmBy = Math.min(d.confirmBy, planBy)
  return { confirmBy: iso(confirmBy), planBy: iso(planBy), respondBy: iso(d.respondBy), closeBy: iso(closeBy) }
}

/** The breakdown clock, calendar time from the breakdown (detection wall clock, never back-filled event time). */
export function deadlinesFrom(startMs: number, priority: Priority, sla: SlaTargets = defaultSla): SlaDeadlines {
  return orderDeadlines({
    confirmBy: startMs + sla.confirmMinutes * 60_000,
    planBy: startMs + sla.planHours * H,
    respondBy: startMs + sla.responseHours[priority] * H,
    closeBy: startMs + sla.closeDays * 24 * H,
  })
}

// ---- working hours in a time zone (Intl only: domain depends on nothing) ----

const formatters = new Map<string, Intl.DateTimeFormat>()
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formatters.set(timeZone, f)
  }
  return f
}

/** Is this an IANA time zone the runtime knows? */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone)
    return true
  } catch {
    return false
  }
}

const QUARTER_HOUR = 900_000
const offsets = new Map<string, number>()

/**
 * Offset (ms ahead of UTC) of a zone at an instant. Every zone's offset is a multiple of 15
 * minutes and changes on a quarter hour, so it is constant within each 15-minute slot of UTC and
 * memoised per slot (Intl's formatToParts is the slow part of a deadline).
 */
function offsetOf(ms: number, timeZone: string): number {
  if (timeZone === 'UTC') return 0
  const slot = Math.floor(ms / QUARTER_HOUR) * QUARTER_HOUR
  const key = `${timeZone}|${slot}`
  const hit = offsets.get(key)
  if (hit !== undefined) return hit
  const p: Record<string, number> = {}
  for (const part of formatter(timeZone).formatToParts(new Date(slot))) if (part.type !== 'literal') p[part.type] = Number(part.value)
  const offset = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - slot
  if (offsets.size >= 50_000) offsets.clear()
  offsets.set(key, offset)
  return offset
}

/** Local calendar date and offset (ms ahead of UTC) of an instant in a zone. */
function localOf(ms: number, timeZone: string): { y: number; m: number; d: number; offsetMs: number } {
  const offsetMs = offsetOf(ms, timeZone)
  const local = new Date(ms + offsetMs)
  return { y: local.getUTCFullYear(), m: local.getUTCMonth() + 1, d: local.getUTCDate(), offsetMs }
}

/** The instant of a local wall-clock time (minutes after local midnight) on a local date. */
function instantOf(y: number, m: number, d: number, minutes: number, timeZone: string): number {
  const wall = Date.UTC(y, m - 1, d) + minutes * 60_000
  // Two passes settle the offset on either side of a daylight-saving change.
  let ms = wall - localOf(wall, timeZone).offsetMs
  ms = wall - localOf(ms, timeZone).offsetMs
  return ms
}

const minutesOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number]
  return h * 60 + m
}

/** ISO weekday (1 = Monday) of a calendar date. */
const weekdayOf = (y: number, m: number, d: number): number => ((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7) + 1

/** The working window [start, end) of the local day `dayOffset` days from the local day of `ms`, or null on a day off. */
function windowOn(ms: number, dayOffset: number, wh: WorkingHours, timeZone: string): [number, number] | null {
  const l = localOf(ms, timeZone)
  const day = new Date(Date.UTC(l.y, l.m - 1, l.d + dayOffset))
  const [y, m, d] = [day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate()]
  if (!wh.days.includes(weekdayOf(y, m, d))) return null
  return [instantOf(y, m, d, minutesOf(wh.start), timeZone), instantOf(y, m, d, minutesOf(wh.end), timeZone)]
}

const SEARCH_DAYS = 15

/** The latest working moment at or before `ms`: `ms` itself inside working hours, else the end of the last working day. */
export function latestWorkingAtOrBefore(ms: number, wh: WorkingHours, timeZone: string): number {
  for (let i = 0; i >= -SEARCH_DAYS; i--) {
    const w = windowOn(ms, i, wh, timeZone)
    if (w === null || w[0] > ms) continue
    return Math.min(ms, w[1])
  }
  throw new RangeError('working hours have no working day')
}

/** `startMs` plus `hours` of working time: the clock runs only inside working hours. */
export function addWorkingHours(startMs: number, hours: number, wh: WorkingHours, timeZone: string): number {
  let left = hours * H
  for (let i = 0; i <= SEARCH_DAYS * Math.max(1, Math.ceil(hours / 8)); i++) {
    const w = windowOn(startMs, i, wh, timeZone)
    if (w === null || w[1] <= startMs) continue
    const from = Math.max(w[0], startMs)
    if (from + left <= w[1]) return from + left
    left -= w[1] - from
  }
  throw new RangeError('working hours have no working day')
}

// ---- which clock applies ----

export type SlaPolicyKind = 'predicted' | 'breakdown'

/** A breakdown is a critical code the appliance reported itself, or a failure already reached (no life left). */
export function isBreakdown(ev: { source: 'detector' | 'firmware'; severity: Severity; rul: RemainingLife | null }): boolean {
  return (ev.source === 'firmware' && ev.severity === 'critical') || (ev.rul !== null && ev.rul.lowHours <= 0)
}

const dayNames = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']

/** "Mon–Sat 08:00–18:00 UTC" */
export function workingHoursWords(wh: WorkingHours, timeZone: string): string {
  const days = [...wh.days].sort((a, b) => a - b)
  const contiguous = days.every((d, i) => i === 0 || d === (days[i - 1] as number) + 1)
  const dayText = days.length === 7 ? 'every day' : contiguous && days.length > 2
    ? `${dayNames[(days[0] as number) - 1]}–${dayNames[(days.at(-1) as number) - 1]}`
    : days.map((d) => dayNames[d - 1]).join(', ')
  return `${dayText} ${wh.start}–${wh.end} ${timeZone}`
}

const hoursWords = (h: number): string => (h % 24 === 0 && h >= 24 ? `${h / 24} day${h === 24 ? '' : 's'}` : `${h} h`)

/** "confirm in 3 minutes, plan in 2 h, on site in 2 h, repair done in 3 days" */
export function breakdownWords(priority: Priority, sla: SlaTargets): string {
  const respond = sla.responseHours[priority]
  return `confirm in ${sla.confirmMinutes} minutes, plan in ${hoursWords(Math.min(sla.planHours, respond))}, `
    + `on site in ${hoursWords(respond)}, repair done in ${hoursWords(sla.closeDays * 24)}`
}

export interface SlaClock extends SlaDeadlines {
  /** Detection (wall clock): the predicted clock counts from here. */
  anchoredAt: string
  policy: SlaPolicyKind
  /** Which clock applies and why, in plain words. */
  reason: string
  /** Predicted: the low end of the remaining-life interval, counted from detection; else null. */
  failureExpectedAt: string | null
  /** Breakdown: when the breakdown clock started (detection, a critical code, or the predicted failure reached); else null. */
  breakdownAt: string | null
  /** Predicted: the breakdown clock that takes over if the predicted failure time is reached before the visit; else null. */
  onFailure: (SlaDeadlines & { anchoredAt: string }) | null
}

/** The breakdown clock from `startMs`. */
export function breakdownClock(anchoredAtMs: number, startMs: number, priority: Priority, sla: SlaTargets, why: string): SlaClock {
  return {
    anchoredAt: iso(anchoredAtMs), ...deadlinesFrom(startMs, priority, sla), policy: 'breakdown',
    reason: `Breakdown (${why}): ${priority} clock — ${breakdownWords(priority, sla)}.`,
    failureExpectedAt: null, breakdownAt: iso(startMs), onFailure: null,
  }
}

/**
 * The predicted-fault clock: visit by the low end of remaining life minus the margin, moved back
 * into the tier's working hours, and never sooner than the tier's breakdown response (a failure
 * expected within the margin gets the fastest visit the tier offers, not a deadline in the past).
 */
export function predictedClock(detectedAtMs: number, priority: Priority, rul: RemainingLife | null, sla: SlaTargets): SlaClock {
  const tier = sla.tiers[priority]
  const p = tier.predicted
  const tz = sla.timeZone
  const failureMs = detectedAtMs + (rul === null ? p.noEstimateDays * 24 : rul.lowHours) * H
  const target = failureMs - p.marginHours * H
  const floor = detectedAtMs + sla.responseHours[priority] * H
  const inHours = latestWorkingAtOrBefore(target, tier.workingHours, tz)
  const visitMs = Math.max(inHours, floor)
  const d = orderDeadlines({
    confirmBy: addWorkingHours(detectedAtMs, p.confirmWorkingHours, tier.workingHours, tz),
    planBy: addWorkingHours(detectedAtMs, p.planWorkingHours, tier.workingHours, tz),
    respondBy: visitMs,
    closeBy: failureMs,
  })
  const margin = hoursWords(p.marginHours)
  const basis = rul === null
    ? `no remaining-life estimate, so failure is assumed ${p.noEstimateDays} days after detection; visit ${margin} before that`
    : `visit ${margin} before the earliest expected failure`
  const soon = visitMs > inHours ? `; the failure is expected sooner than that allows, so the visit gets the ${priority} breakdown response of ${hoursWords(sla.responseHours[priority])}` : ''
  return {
    anchoredAt: iso(detectedAtMs), ...d, policy: 'predicted',
    reason: `Predicted fault: ${basis}, within ${priority} working hours (${workingHoursWords(tier.workingHours, tz)})${soon}; `
      + `repair done before the expected failure. If the failure time is reached first, the breakdown clock applies.`,
    failureExpectedAt: iso(failureMs), breakdownAt: null,
    onFailure: { anchoredAt: iso(failureMs), ...deadlinesFrom(failureMs, priority, sla) },
  }
}

/** The clock a new ticket gets from the event that opened it. */
export function slaClockFor(
  detectedAtMs: number, priority: Priority, ev: { source: 'detector' | 'firmware'; severity: Severity; rul: RemainingLife | null }, sla: SlaTargets = defaultSla,
): SlaClock {
  if (!isBreakdown(ev)) return predictedClock(detectedAtMs, priority, ev.rul, sla)
  const why = ev.source === 'firmware' ? 'the appliance reported a critical fault code' : 'the failure limit is already reached'
  return breakdownClock(detectedAtMs, detectedAtMs, priority, sla, why)
}

const earlier = (a: string, b: string) => (a <= b ? a : b)

/**
 * A ticket's clock after a later warning or a higher priority: a breakdown event starts (or keeps)
 * the breakdown clock; otherwise the clock is recomputed and each deadline only tightens.
 */
export function updateClock(
  current: SlaClock, nowDetectedAtMs: number, priority: Priority, ev: { source: 'detector' | 'firmware'; severity: Severity; rul: RemainingLife | null }, sla: SlaTargets = defaultSla,
): SlaClock {
  const anchor = Date.parse(current.anchoredAt)
  if (current.policy === 'breakdown') {
    const start = current.breakdownAt === null ? anchor : Date.parse(current.breakdownAt)
    const why = current.reason.match(/^Breakdown \(([^)]*)\)/)?.[1] ?? 'breakdown'
    return breakdownClock(anchor, start, priority, sla, why)
  }
  if (isBreakdown(ev)) {
    const why = ev.source === 'firmware' ? 'the appliance reported a critical fault code' : 'the failure limit was reached'
    return breakdownClock(anchor, nowDetectedAtMs, priority, sla, why)
  }
  // A newer estimate counts from its own detection; without one the ticket keeps the failure time it has.
  const lowHours = ev.rul !== null ? ev.rul.lowHours + (nowDetectedAtMs - anchor) / H
    : current.failureExpectedAt !== null ? (Date.parse(current.failureExpectedAt) - anchor) / H : null
  const fresh = predictedClock(anchor, priority, lowHours === null ? null : { medianHours: lowHours, lowHours, highHours: lowHours }, sla)
  return { ...fresh, ...tighter(current, fresh) }
}

function tighter(a: SlaClock, b: SlaClock) {
  return {
    confirmBy: earlier(a.confirmBy, b.confirmBy), planBy: earlier(a.planBy, b.planBy), respondBy: earlier(a.respondBy, b.respondBy), closeBy: earlier(a.closeBy, b.closeBy),
    failureExpectedAt: a.failureExpectedAt === null ? b.failureExpectedAt : b.failureExpectedAt === null ? a.failureExpectedAt : earlier(a.failureExpectedAt, b.failureExpectedAt),
    onFailure: a.onFailure === null ? b.onFailure : b.onFailure === null || a.onFailure.anchoredAt <= b.onFailure.anchoredAt ? a.onFailure : b.onFailure,
  }
}

/** Ticket states before the technician is on site: a predicted failure reached in them is a breakdown. */
const beforeVisit: readonly string[] = ['open', 'acknowledged', 'scheduled']

/** A stored ticket's SLA as written before this policy existed has no `policy`: it ran the breakdown clock. */
export type StoredSla = SlaDeadlines & Partial<Omit<SlaClock, keyof SlaDeadlines>> & { anchoredAt: string }

export interface EffectiveSla extends SlaDeadlines {
  policy: SlaPolicyKind
  reason: string
  /** When this clock started counting (detection, or the breakdown). */
  startedAt: string
  /** True when a predicted fault's failure time was reached before the visit. */
  escalated: boolean
}

/**
 * The clock in force at `nowMs`: a predicted fault whose failure time has come before the
 * technician arrived runs the breakdown clock from that moment on.
 */
export function effectiveSla(t: { state: string; sla: StoredSla }, nowMs: number): EffectiveSla {
  const s = t.sla
  const base = { confirmBy: s.confirmBy, planBy: s.planBy, respondBy: s.respondBy, closeBy: s.closeBy }
  if (s.policy === 'predicted' && s.onFailure != null && beforeVisit.includes(t.state) && nowMs >= Date.parse(s.onFailure.anchoredAt)) {
    const f = s.onFailure
    return {
      confirmBy: f.confirmBy, planBy: f.planBy, respondBy: f.respondBy, closeBy: f.closeBy, policy: 'breakdown', startedAt: f.anchoredAt, escalated: true,
      reason: 'Breakdown (the predicted failure time was reached before the technician arrived): the breakdown clock runs from that moment.',
    }
  }
  if (s.policy === 'predicted') return { ...base, policy: 'predicted', reason: s.reason ?? '', startedAt: s.anchoredAt, escalated: false }
  return {
    ...base, policy: 'breakdown', startedAt: s.breakdownAt ?? s.anchoredAt, escalated: false,
    reason: s.reason ?? 'Breakdown clock (tier response times from detection).',
  }
}

/** The clock to store when a ticket changes state: a breakdown that `effectiveSla` found is written down for good. */
export function settleSla<S extends StoredSla>(t: { state: string; sla: S }, nowMs: number): S {
  const e = effectiveSla(t, nowMs)
  if (!e.escalated) return t.sla
  return {
    ...t.sla, confirmBy: e.confirmBy, planBy: e.planBy, respondBy: e.respondBy, closeBy: e.closeBy,
    policy: 'breakdown', reason: e.reason, breakdownAt: e.startedAt, onFailure: null,
  }
}

/** A stored ticket's clock in full; one written before this policy existed ran the breakdown clock from detection. */
export function clockOf(sla: StoredSla): SlaClock {
  return {
    anchoredAt: sla.anchoredAt, confirmBy: sla.confirmBy, planBy: sla.planBy, respondBy: sla.respondBy, closeBy: sla.closeBy,
    policy: sla.policy ?? 'breakdown', reason: sla.reason ?? 'Breakdown (opened on the tier clock from detection).',
    failureExpectedAt: sla.failureExpectedAt ?? null, breakdownAt: sla.breakdownAt ?? (sla.policy === 'predicted' ? null : sla.anchoredAt),
    onFailure: sla.onFailure ?? null,
  }
}

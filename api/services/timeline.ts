/**
 * A ticket's timeline for a customer-facing status page: where the repair stands in one sentence,
 * each state with its time, in words an appliance owner understands, and the SLA clock — how long
 * since we detected the problem, and each promise (confirm, plan, technician on site, repair done)
 * with whether it was kept. Durations in words, never clock times: the owner's time zone is unknown.
 */
import Type, { type Static } from 'typebox'
import { catalogue, effectiveSla, type EffectiveSla } from '../../domain/index.ts'
import type { HistoryEntry, TicketRecord } from '../schemas.ts'
import { TicketStateSchema } from '../schemas.ts'

/** The type's name; a type whose catalogue file was taken away since keeps its id. */
const applianceName = (type: string): string => (catalogue[type]?.name ?? type.replaceAll('_', ' ')).toLowerCase()

const Deadline = Type.Object({
  due: Type.String(),
  metAt: Type.Union([Type.String(), Type.Null()]),
  status: Type.Enum(['met', 'late', 'pending', 'overdue', 'not_needed'], { description: 'not_needed: the request was cancelled first' }),
  text: Type.String({ description: 'the promise and how it went, in plain words' }),
})

export const TimelineSchema = Type.Object({
  ticketId: Type.String(),
  state: TicketStateSchema,
  headline: Type.String({ description: 'where the repair stands, in one sentence' }),
  steps: Type.Array(Type.Object({ state: TicketStateSchema, at: Type.String(), text: Type.String() })),
  clock: Type.Object({
    startedAt: Type.String({ description: 'when Forewarn detected the problem: every promise counts from here' }),
    stoppedAt: Type.Union([Type.String(), Type.Null()], { description: 'resolved or cancelled' }),
    elapsedMinutes: Type.Integer(),
    text: Type.String(),
  }),
  sla: Type.Object({ confirm: Deadline, plan: Deadline, respond: Deadline, close: Deadline }),
  policy: Type.Object({
    kind: Type.Enum(['predicted', 'breakdown'], { description: 'predicted: visit before the expected failure, in working hours; breakdown: the tier response clock' }),
    escalated: Type.Boolean({ description: 'a predicted fault whose expected failure time came before the technician did' }),
    startedAt: Type.String({ description: 'when this clock started: detection, or the breakdown' }),
    text: Type.String({ description: 'which promise applies, in words for the appliance owner' }),
  }),
  historyTruncated: Type.Optional(Type.Boolean({
    description: 'true when the device history was longer than one request reads (10,000 entries): steps recorded after that are missing',
  })),
})
export type Timeline = Static<typeof TimelineSchema>
type Step = Timeline['steps'][number]
type State = Step['state']

const order: readonly State[] = ['open', 'acknowledged', 'scheduled', 'in_progress', 'resolved']
const MIN = 60_000

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`

/** "2 days 3 hours", "4 hours 2 minutes", "1 minute", "less than a minute": the two largest units. */
export function durationWords(ms: number): string {
  const minutes = Math.floor(Math.abs(ms) / MIN)
  if (minutes === 0) return 'less than a minute'
  const parts: string[] = []
  const days = Math.floor(minutes / 1440)
  const hours = Math.floor((minutes % 1440) / 60)
  const mins = minutes % 60
  if (days > 0) parts.push(plural(days, 'day'))
  if (hours > 0) parts.push(plural(hours, 'hour'))
  if (mins > 0 && days === 0) parts.push(plural(mins, 'minute'))
  return parts.slice(0, 2).join(' ')
}

function stepText(t: TicketRecord, state: State, data: Record<string, unknown>): string {
  const appliance = applianceName(t.appliance.type)
  switch (state) {
    case 'open': return `We detected a developing problem with your ${appliance} (${t.fault.name.toLowerCase()}) before it broke down, and opened a repair request.`
    case 'acknowledged': return 'Our service team has confirmed the problem.'
    case 'scheduled': return 'A technician visit has been planned.'
    case 'in_progress': return `A technician is working on your ${appliance}.`
    case 'cancelled': return 'The repair request was cancelled.'
    case 'resolved': {
      const part = t.parts.find((p) => p.partNumber === data.partNumber)
      switch (data.outcome) {
        case 'part_replaced': return `Repaired: the faulty part was replaced${part === undefined ? '' : ` (${part.name})`}.`
        case 'no_fault_found': return 'The technician checked your appliance and found no fault.'
        case 'customer_declined': return 'You chose not to have the repair done.'
        default: return `Your ${appliance} has been repaired.`
      }
    }
  }
}

function headline(t: TicketRecord, appliance: string, steps: readonly Step[]): string {
  const last = steps.at(-1) as Step
  switch (t.state) {
    case 'open': return `We found an early sign of trouble with your ${appliance} and will contact you to confirm it.`
    case 'acknowledged': return `We have confirmed the problem with your ${appliance} and are planning a technician visit.`
    case 'scheduled': return `A technician visit for your ${appliance} is planned.`
    case 'in_progress': return `A technician is working on your ${appliance} now.`
    case 'resolved': return last.text
    case 'cancelled': return 'This repair request was cancelled; nothing more will happen on it.'
  }
}

const promises = {
  confirm: { noun: 'confirm the problem', done: 'Confirmed' },
  plan: { noun: 'plan the technician visit', done: 'Visit planned' },
  respond: { noun: 'have a technician with you', done: 'Technician arrived' },
  close: { noun: 'finish the repair', done: 'Finished' },
} as const

/** The owner's words for the clock in force: never tiers, zones or internal reasons. */
function policyWords(e: EffectiveSla, firmware: boolean): string {
  if (e.escalated) return 'The problem was expected to cause a breakdown about now, before our technician could come: our breakdown service now applies, with its faster promises.'
  if (e.policy === 'predicted') return 'We found this early, before anything broke down: we will plan a technician visit with you before the fault is expected to cause a breakdown.'
  return firmware
    ? 'Your appliance reported a fault that needs prompt repair: our breakdown service applies.'
    : 'This fault needs prompt repair: our breakdown service applies.'
}

/** `entries` are the device's history entries; those of other tickets are ignored. */
export function ticketTimeline(t: TicketRecord, entries: readonly HistoryEntry[], nowMs: number): Timeline {
  const appliance = applianceName(t.appliance.type)
  const steps: Step[] = [{ state: 'open', at: t.detectedAt, text: stepText(t, 'open', {}) }]
  for (const e of entries) {
    if (e.data.ticketId !== t.id || !e.kind.startsWith('ticket.')) continue
    const state = e.kind.slice('ticket.'.length) as State
    if (!(order as readonly string[]).includes(state) && state !== 'cancelled') continue
    if (state === 'open') continue
    steps.push({ state, at: e.at, text: stepText(t, state, e.data) })
  }
  const cancelledAt = steps.find((s) => s.state === 'cancelled')?.at ?? null
  // A later state meets every earlier deadline: a ticket resolved at once was also confirmed then.
  const reached = (s: State): string | null => {
    const rank = order.indexOf(s)
    return steps.find((st) => st.state !== 'cancelled' && order.indexOf(st.state) >= rank && st.state !== 'open')?.at ?? null
  }
  const start = Date.parse(t.sla.anchoredAt)
  const e = effectiveSla(t, nowMs)
  const clockStart = Date.parse(e.startedAt)
  const since = e.escalated ? 'the expected breakdown' : 'we detected the problem'
  const ahead = e.policy === 'predicted' ? ', before the expected breakdown' : ''
  const deadline = (which: keyof typeof promises, due: string, metAt: string | null) => {
    const p = promises[which]
    const dueMs = Date.parse(due)
    const before = which === 'respond' || which === 'close' ? ahead : ''
    const within = durationWords(dueMs - clockStart) + before
    if (metAt !== null) {
      const took = Date.parse(metAt) < clockStart ? null : durationWords(Date.parse(metAt) - clockStart)
      const late = metAt > due
      return {
        due, metAt, status: late ? 'late' : 'met',
        text: late
          ? `${p.done} ${took} after ${since}, ${durationWords(Date.parse(metAt) - dueMs)} later than our promise of ${within}.`
          : took === null ? `${p.done} before the expected breakdown.` : `${p.done} ${took} after ${since} (we promised within ${within}).`,
      } as const
    }
    if (cancelledAt !== null) return { due, metAt, status: 'not_needed', text: `Not needed: the request was cancelled before we had to ${p.noun}.` } as const
    if (dueMs < nowMs) return { due, metAt, status: 'overdue', text: `We promised to ${p.noun} within ${within}; we are ${durationWords(nowMs - dueMs)} late. Sorry.` } as const
    const of = e.escalated ? 'of the expected breakdown' : 'of detecting the problem'
    return { due, metAt, status: 'pending', text: `We promise to ${p.noun} within ${durationWords(dueMs - clockStart)} ${of}${before}: ${durationWords(dueMs - nowMs)} left.` } as const
  }
  const stoppedAt = cancelledAt ?? (t.state === 'resolved' ? reached('resolved') : null)
  const elapsedMs = Math.max(0, (stoppedAt === null ? nowMs : Date.parse(stoppedAt)) - start)
  return {
    ticketId: t.id,
    state: t.state,
    headline: headline(t, appliance, steps),
    steps,
    clock: {
      startedAt: t.sla.anchoredAt,
      stoppedAt,
      elapsedMinutes: Math.floor(elapsedMs / MIN),
      text: stoppedAt === null
        ? `Open for ${durationWords(elapsedMs)} since we detected the problem.`
        : `${t.state === 'cancelled' ? 'Cancelled' : 'Closed'} ${durationWords(elapsedMs)} after we detected the problem.`,
    },
    sla: {
      confirm: deadline('confirm', e.confirmBy, reached('acknowledged')),
      plan: deadline('plan', e.planBy, reached('scheduled')),
      respond: deadline('respond', e.respondBy, reached('in_progress')),
      close: deadline('close', e.closeBy, reached('resolved')),
    },
    policy: { kind: e.policy, escalated: e.escalated, startedAt: e.startedAt, text: policyWords(e, t.fault.source === 'firmware') },
  }
}

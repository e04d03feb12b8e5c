/**
 * A ticket's timeline for a customer-facing status page: each state with its time, in words an
 * appliance owner understands, and the SLA clock (confirm, plan, on-site response, close).
 */
import Type, { type Static } from 'typebox'
import { catalogue } from '../../domain/index.ts'
import type { HistoryEntry, TicketRecord } from '../schemas.ts'
import { TicketStateSchema } from '../schemas.ts'

const Deadline = Type.Object({
  due: Type.String(),
  metAt: Type.Union([Type.String(), Type.Null()]),
  status: Type.Enum(['met', 'late', 'pending', 'overdue']),
})

export const TimelineSchema = Type.Object({
  ticketId: Type.String(),
  state: TicketStateSchema,
  steps: Type.Array(Type.Object({ state: TicketStateSchema, at: Type.String(), text: Type.String() })),
  sla: Type.Object({ confirm: Deadline, plan: Deadline, respond: Deadline, close: Deadline }),
})
export type Timeline = Static<typeof TimelineSchema>
type Step = Timeline['steps'][number]
type State = Step['state']

const order: readonly State[] = ['open', 'acknowledged', 'scheduled', 'in_progress', 'resolved']

function stepText(t: TicketRecord, state: State, data: Record<string, unknown>): string {
  const appliance = catalogue[t.appliance.type].name.toLowerCase()
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

/** `entries` are the device's history entries; those of other tickets are ignored. */
export function ticketTimeline(t: TicketRecord, entries: readonly HistoryEntry[], nowMs: number): Timeline {
  const steps: Step[] = [{ state: 'open', at: t.detectedAt, text: stepText(t, 'open', {}) }]
  for (const e of entries) {
    if (e.data.ticketId !== t.id || !e.kind.startsWith('ticket.')) continue
    const state = e.kind.slice('ticket.'.length) as State
    if (!(order as readonly string[]).includes(state) && state !== 'cancelled') continue
    if (state === 'open') continue
    steps.push({ state, at: e.at, text: stepText(t, state, e.data) })
  }
  // A later state meets every earlier deadline: a ticket resolved at once was also confirmed then.
  const reached = (s: State): string | null => {
    const rank = order.indexOf(s)
    const hit = steps.find((st) => st.state === 'cancelled' || order.indexOf(st.state) >= rank)
    return hit === undefined || (s !== 'open' && hit.state === 'open') ? null : hit.at
  }
  const deadline = (due: string, metAt: string | null) => ({
    due,
    metAt,
    status: metAt !== null ? (metAt <= due ? 'met' : 'late') : Date.parse(due) < nowMs ? 'overdue' : 'pending',
  } as const)
  return {
    ticketId: t.id,
    state: t.state,
    steps,
    sla: {
      confirm: deadline(t.sla.confirmBy, reached('acknowledged')),
      plan: deadline(t.sla.planBy, reached('scheduled')),
      respond: deadline(t.sla.respondBy, reached('in_progress')),
      close: deadline(t.sla.closeBy, reached('resolved')),
    },
  }
}

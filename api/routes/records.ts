/** Warnings and tickets: read by anyone with `read`, ticket state changed with `tickets:write`. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { ErrorSchema, PageQuery, TicketSchema, TicketStateSchema, WarningSchema, WarningStateSchema, pageOf } from '../schemas.ts'
import { bearer, errors, IdParam } from './common.ts'
import { ticketTimeline, TimelineSchema } from '../services/timeline.ts'

const Filter = Type.Object({ deviceId: Type.Optional(Type.String({ maxLength: 64 })) })

const Transition = Type.Object({
  state: TicketStateSchema,
  outcome: Type.Optional(Type.Enum(['part_replaced', 'repaired', 'no_fault_found', 'customer_declined'])),
  partNumber: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  note: Type.Optional(Type.String({ maxLength: 2000 })),
}, { additionalProperties: false })

/**
 * History rows one timeline request reads at most. The timeline needs this ticket's entries, which
 * the store can only hand over as the device's whole history, page by page; before this bound a
 * request could read 100,000 rows. Past it the answer says `historyTruncated: true`.
 */
export const TIMELINE_MAX_HISTORY_ROWS = 10_000
const TIMELINE_PAGE_ROWS = 1000

const Precision = Type.Object({
  faultCode: Type.String(),
  model: Type.String(),
  confirmed: Type.Integer({ description: 'resolved with the part replaced or repaired' }),
  noFaultFound: Type.Integer(),
  declined: Type.Integer({ description: 'customer declined: left out of the precision' }),
  precision: Type.Union([Type.Number(), Type.Null()], { description: 'null until a ticket was confirmed or found faultless' }),
})

const FeedItem = Type.Object({
  id: Type.String({ description: 'event id: receivers dedupe by it' }),
  event: Type.Enum(['ticket.created', 'ticket.updated']),
  ticketId: Type.String(),
  at: Type.String(),
  ticket: TicketSchema,
})

export const recordRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.store

  app.get('/warnings', {
    config: { scope: 'read' },
    schema: {
      tags: ['warnings'], security: bearer,
      querystring: Type.Intersect([PageQuery, Filter, Type.Object({ state: Type.Optional(WarningStateSchema) })]),
      response: { 200: pageOf(WarningSchema), ...errors },
    },
  }, async (req) => store.listWarnings({ limit: req.query.limit ?? 100, after: req.query.after, deviceId: req.query.deviceId, state: req.query.state }))

  app.get('/tickets', {
    config: { scope: 'read' },
    schema: {
      tags: ['tickets'], security: bearer,
      querystring: Type.Intersect([PageQuery, Filter, Type.Object({ state: Type.Optional(TicketStateSchema) })]),
      response: { 200: pageOf(TicketSchema), ...errors },
    },
  }, async (req) => store.listTickets({ limit: req.query.limit ?? 100, after: req.query.after, deviceId: req.query.deviceId, state: req.query.state }))

  app.get('/tickets/feed', {
    config: { scope: 'read' },
    schema: {
      tags: ['tickets'], security: bearer,
      summary: 'Pull feed of ticket events (created, updated) in commit order, for systems Forewarn cannot reach',
      querystring: PageQuery,
      response: { 200: pageOf(FeedItem), ...errors },
    },
  }, async (req) => {
    const page = await store.listOutbox({ limit: req.query.limit ?? 100, after: req.query.after, adapter: 'feed' })
    return { items: page.items.map((o) => ({ id: o.id, event: o.event, ticketId: o.ticketId, at: o.createdAt, ticket: o.payload })), next: page.next }
  })

  app.get('/tickets/precision', {
    config: { scope: 'read' },
    schema: {
      tags: ['tickets'], security: bearer,
      summary: 'How often a fault was real, per fault code and appliance model, from how technicians resolved the tickets',
      description: 'precision = confirmed / (confirmed + noFaultFound); confirmed is part replaced or repaired; a declined repair says nothing about the fault and is left out.',
      querystring: Type.Object({ faultCode: Type.Optional(Type.String({ maxLength: 64 })), model: Type.Optional(Type.String({ maxLength: 64 })) }),
      response: { 200: Type.Object({ items: Type.Array(Precision) }), ...errors },
    },
  }, async (req) => ({ items: await store.precision({ faultCode: req.query.faultCode, model: req.query.model }) }))

  app.get('/tickets/:id', {
    config: { scope: 'read' },
    schema: { tags: ['tickets'], security: bearer, params: IdParam, response: { 200: TicketSchema, ...errors } },
  }, async (req) => {
    const t = await store.getTicket(req.params.id)
    if (t === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${req.params.id}`)
    return t
  })

  app.get('/tickets/:id/timeline', {
    config: { scope: 'read' },
    schema: {
      tags: ['tickets'], security: bearer, summary: 'States with their times and the SLA clock, in plain words, for a status page',
      params: IdParam, response: { 200: TimelineSchema, ...errors },
    },
  }, async (req) => {
    const t = await store.getTicket(req.params.id)
    if (t === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${req.params.id}`)
    const entries = []
    let after: string | undefined
    let read = 0
    let truncated = false
    for (;;) {
      const page = await store.history(t.deviceId, { limit: TIMELINE_PAGE_ROWS, after })
      read += page.items.length
      for (const e of page.items) if (e.data.ticketId === t.id) entries.push(e)
      if (page.next === null) break
      // A resolved or cancelled ticket has no later steps.
      if (entries.some((e) => e.kind === 'ticket.resolved' || e.kind === 'ticket.cancelled')) break
      if (read >= TIMELINE_MAX_HISTORY_ROWS) {
        truncated = true
        break
      }
      after = page.next
    }
    const timeline = ticketTimeline(t, entries, Date.now())
    if (truncated) {
      req.log.warn({ ticketId: t.id, deviceId: t.deviceId, rows: read }, 'timeline: device history longer than the bound; later steps left out')
      return { ...timeline, historyTruncated: true }
    }
    return timeline
  })

  app.post('/tickets/:id/transitions', {
    config: { scope: 'tickets:write' },
    schema: {
      tags: ['tickets'], security: bearer,
      summary: 'Move a ticket along open → acknowledged → scheduled → in_progress → resolved | cancelled',
      params: IdParam, body: Transition, response: { 200: TicketSchema, 409: ErrorSchema, ...errors },
    },
  }, async (req) => store.transitionTicket(req.params.id, req.body))
}

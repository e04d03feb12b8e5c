/**
 * Dead letters of ticket delivery: list and replay. Scope tickets:write — whoever runs the
 * ticketing integration repairs its deliveries; a read key must not re-send tickets.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { PageQuery, pageOf } from '../schemas.ts'
import { bearer, errors } from './common.ts'

const DeadJob = Type.Object({
  id: Type.String({ description: 'delivery job id (also the idempotency key receivers see)' }),
  ticketId: Type.String(),
  adapter: Type.String({ description: 'delivery adapter, e.g. rt or webhook' }),
  event: Type.Enum(['ticket.created', 'ticket.updated']),
  attempts: Type.Integer(),
  lastError: Type.String(),
})

export const deliveryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // One port for the plugin's life: it holds prepared statements. Leases do not matter to these two calls.
  const outbox = app.store.outboxPort({ leaseMs: 0 })

  app.get('/deliveries/dead', {
    config: { scope: 'tickets:write' },
    schema: {
      tags: ['deliveries'], security: bearer, summary: 'Delivery jobs that failed for good (dead letters), oldest first',
      querystring: PageQuery, response: { 200: pageOf(DeadJob), ...errors },
    },
  }, async (req) => {
    const page = await outbox.listDead(req.query.limit ?? 100, req.query.after)
    return {
      items: page.items.map((j) => ({ id: j.id, ticketId: j.ticketId, adapter: j.adapter, event: j.event, attempts: j.attempts, lastError: j.lastError })),
      next: page.next,
    }
  })

  app.post('/deliveries/:jobId/replay', {
    config: { scope: 'tickets:write' },
    schema: {
      tags: ['deliveries'], security: bearer, summary: 'Put a dead job back in the queue with its attempts reset; the worker delivers it on its next poll',
      params: Type.Object({ jobId: Type.String({ minLength: 1, maxLength: 64 }) }),
      response: { 200: Type.Object({ jobId: Type.String(), replayed: Type.Literal(true) }), ...errors },
    },
  }, async (req) => {
    if (!(await outbox.replayDead(req.params.jobId))) throw new ForewarnError(ErrorCode.NOT_FOUND, `no dead delivery job ${req.params.jobId}`)
    return { jobId: req.params.jobId, replayed: true as const }
  })
}

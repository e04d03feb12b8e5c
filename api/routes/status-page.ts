/**
 * The appliance owner's repair-status page, `GET /status/{token}` (issue 15 §2): no sign-in, the
 * unguessable per-ticket token is the permission. It shows where the repair stands in plain words
 * with times and the promises made, and nothing internal (no ids, other devices, evidence
 * numbers or keys). An unknown, forged or revoked token gets a plain "not found".
 * `POST /tickets/{id}/status-link/revoke` (tickets:write) ends a link for good.
 */
import type { FastifyInstance } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { applianceSpec } from '../../domain/index.ts'
import { allHistory } from '../console/views.ts'
import { ticketTimeline, type Timeline } from '../services/timeline.ts'
import type { TicketRecord } from '../schemas.ts'
import { bearer, errors, IdParam } from './common.ts'
import { securityHeaders } from '../console/headers.ts'

/** The owner's steps, in the order a repair goes; each is done, current or still to come. */
const ownerSteps = [
  { key: 'found', label: 'Found early', states: ['open'] },
  { key: 'confirmed', label: 'Problem confirmed', states: ['acknowledged'] },
  { key: 'planned', label: 'Technician visit planned', states: ['scheduled'] },
  { key: 'on_the_way', label: 'Technician on the way or at work', states: ['in_progress'] },
  { key: 'repaired', label: 'Repaired', states: ['resolved'] },
] as const

export function ownerView(t: TicketRecord, timeline: Timeline) {
  const reachedAt = (states: readonly string[]) => timeline.steps.find((s) => states.includes(s.state))?.at ?? null
  const rank = ownerSteps.findIndex((s) => (s.states as readonly string[]).includes(t.state))
  const steps = ownerSteps.map((s, i) => {
    // A later state implies the earlier ones, even when a step was skipped (planned straight from open).
    const at = reachedAt(s.states) ?? (i <= rank ? reachedAt(ownerSteps.slice(i).flatMap((x) => [...x.states])) : null)
    return { label: s.label, at, done: t.state !== 'cancelled' && i <= rank, current: i === rank }
  })
  const appliance = applianceSpec(t.appliance.type).name
  const promises = [timeline.sla.confirm, timeline.sla.plan, timeline.sla.respond, timeline.sla.close].map((d) => ({ text: d.text, status: d.status, due: d.due }))
  return {
    appliance, problem: t.fault.name, headline: timeline.headline, cancelled: t.state === 'cancelled', steps, promises,
    policy: { kind: timeline.policy.kind, text: timeline.policy.text },
    stepTexts: timeline.steps.map((s) => ({ at: s.at, text: s.text })), clock: timeline.clock.text, startedAt: timeline.clock.startedAt,
  }
}

/** Registered inside the console's context, which holds the views. */
export function statusPageRoutes(app: FastifyInstance): void {
  app.get<{ Params: { token: string } }>('/status/:token', { schema: { hide: true } }, async (req, reply) => {
    const t = req.params.token.length > 256 ? null : await app.store.ticketByStatusToken(req.params.token)
    securityHeaders(reply).header('x-robots-tag', 'noindex').type('text/html; charset=utf-8')
    if (t === null) return reply.code(404).view('status-notfound', { title: 'Not found', signedIn: false })
    const timeline = ticketTimeline(t, await allHistory(app.store, t.deviceId), Date.now())
    return reply.view('status', { title: 'Your repair', signedIn: false, owner: ownerView(t, timeline) })
  })
}

export const statusLinkRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/tickets/:id/status-link/revoke', {
    config: { scope: 'tickets:write' },
    schema: {
      tags: ['tickets'], security: bearer, summary: "End the owner's repair-status link of a ticket for good",
      params: IdParam, response: { 200: Type.Object({ revoked: Type.Literal(true) }), ...errors },
    },
  }, async (req) => {
    await app.store.revokeStatusLink(req.params.id)
    return { revoked: true as const }
  })
}

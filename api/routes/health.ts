/**
 * Probes without a key: /healthz (the process answers) and /readyz (its dependencies answer).
 * /readyz shows each check's state to anyone (ok, and a fixed `state` phrase where a check has
 * one), and its detail (error texts, internal figures) only to a caller with a valid API key.
 * When the records store itself is down no key can be checked: the caller is then anonymous.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { identifyRequest } from '../plugins/auth.ts'

export type Readiness = () => Promise<Record<string, { ok: boolean; state?: string; detail?: string }>>

const Check = Type.Object({ ok: Type.Boolean(), state: Type.Optional(Type.String()), detail: Type.Optional(Type.String()) })
const Ready = Type.Object({ ok: Type.Boolean(), checks: Type.Record(Type.String(), Check) })

export const healthRoutes: FastifyPluginAsyncTypebox<{ readiness?: Readiness | undefined }> = async (app, opts) => {
  app.get('/healthz', { schema: { tags: ['probes'], response: { 200: Type.Object({ ok: Type.Boolean() }) } } }, async () => ({ ok: true }))

  app.get('/readyz', {
    schema: { tags: ['probes'], summary: 'Readiness of each dependency; details only with an API key', response: { 200: Ready, 503: Ready } },
  }, async (req, reply) => {
    const checks: Record<string, { ok: boolean; state?: string; detail?: string }> = {}
    try {
      Object.assign(checks, opts.readiness === undefined ? {} : await opts.readiness())
    } catch (err) {
      checks.readiness = { ok: false, detail: err instanceof Error ? err.message : String(err) }
    }
    checks.database = { ok: await app.store.ping() }
    const ok = Object.values(checks).every((c) => c.ok)
    const identity = await identifyRequest(app.store, req).then((r) => r.identity, () => null)
    if (identity === null) {
      for (const [name, c] of Object.entries(checks)) checks[name] = c.state === undefined ? { ok: c.ok } : { ok: c.ok, state: c.state }
    }
    return reply.code(ok ? 200 : 503).send({ ok, checks })
  })
}

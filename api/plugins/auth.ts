/**
 * Bearer API keys. A route names the scope it needs in `config.scope`; routes without one are
 * public (health probes, docs). 'admin' is no scope a key can be given: only the admin key ('*')
 * passes it (API key management). 401: no key or an unknown key. 403: a valid key without the scope.
 *
 * The check is a route-level onRequest hook added after the rate limiter's (this plugin is
 * registered after it), so a refused key is counted against its address before the 401.
 *
 * While the records store cannot answer (an outage: a retriable store error), a key the store
 * accepted within the last `KEY_GRACE_MS` keeps its identity: the Prometheus scraper and the
 * console keep reading what needs no store (/metrics above all) exactly when operators need it.
 * Nothing can be revoked during the outage either (revocation is a store write), so this grants no
 * key anything the store would refuse; keys are held as digests, at most `KEY_GRACE_ENTRIES`.
 */
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCode } from '../../domain/index.ts'
import type { Scope } from '../schemas.ts'
import type { ApiKeyIdentity } from '../store/index.ts'
import type { AnyStore } from '../store/open.ts'
import { errorBody } from './errors.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: Scope | 'admin'
  }
  interface FastifyRequest {
    apiKey: ApiKeyIdentity | null
  }
}

const BEARER = /^Bearer +(\S+)\s*$/i

export interface Identification {
  /** Whether the request carries a well-formed `Authorization: Bearer …` header. */
  presented: boolean
  /** The key's identity; null without a key or with an unknown or revoked one. */
  identity: ApiKeyIdentity | null
}

const seen = new WeakMap<FastifyRequest, Promise<Identification>>()

/** How long a key the store accepted keeps its identity while the store cannot answer. */
export const KEY_GRACE_MS = 15 * 60_000
const KEY_GRACE_ENTRIES = 1000
/** Per store: digest of a key → its identity and when the store last accepted it (insertion order = age). */
const accepted = new WeakMap<AnyStore, Map<string, { identity: ApiKeyIdentity; at: number }>>()

const isOutage = (err: unknown): boolean => (err as { retriable?: unknown } | null)?.retriable === true

async function authenticate(store: AnyStore, key: string): Promise<ApiKeyIdentity | null> {
  let known = accepted.get(store)
  if (known === undefined) accepted.set(store, (known = new Map()))
  const digest = createHash('sha256').update(key).digest('base64url')
  try {
    const identity = await store.authenticateApiKey(key)
    known.delete(digest)
    if (identity !== null) {
      known.set(digest, { identity, at: Date.now() })
      if (known.size > KEY_GRACE_ENTRIES) known.delete(known.keys().next().value as string)
    }
    return identity
  } catch (err) {
    const last = known.get(digest)
    if (isOutage(err) && last !== undefined && Date.now() - last.at <= KEY_GRACE_MS) return last.identity
    throw err
  }
}

/** Who sent the request, looked up once per request (the rate limiter and the scope check share it). */
export function identifyRequest(store: AnyStore, req: FastifyRequest): Promise<Identification> {
  let found = seen.get(req)
  if (found === undefined) {
    const m = BEARER.exec(req.headers.authorization ?? '')
    const key = m?.[1]
    found = key === undefined
      ? Promise.resolve({ presented: false, identity: null })
      : authenticate(store, key).then((identity) => ({ presented: true, identity }))
    seen.set(req, found)
  }
  return found
}

export const authPlugin = fp(async (app) => {
  app.decorateRequest('apiKey', null)
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope
    if (scope === undefined) return
    const check = async (req: FastifyRequest, reply: FastifyReply) => {
      const { presented, identity } = await identifyRequest(app.store, req)
      if (identity === null) {
        reply.header('www-authenticate', 'Bearer realm="forewarn"')
        return reply.code(401).send(errorBody(ErrorCode.NOT_AUTHORIZED, presented
          ? 'unknown or revoked API key'
          : 'missing API key: send Authorization: Bearer <key>'))
      }
      if (!identity.scopes.includes('*') && !(identity.scopes as readonly string[]).includes(scope)) {
        return reply.code(403).send(errorBody(ErrorCode.NOT_AUTHORIZED, `this API key lacks the ${scope} scope`))
      }
      req.apiKey = identity
    }
    route.onRequest = route.onRequest === undefined ? [check] : [...(Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]), check]
  })
}, { name: 'forewarn-auth', fastify: '5.x', dependencies: ['forewarn-store', 'forewarn-errors'] })

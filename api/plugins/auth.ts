/**
 * Bearer API keys. A route names the scope it needs in `config.scope`; routes without one are
 * public (health probes, docs). 'admin' is no scope a key can be given: only the admin key ('*')
 * passes it (API key management). 401: no key or an unknown key. 403: a valid key without the scope.
 */
import fp from 'fastify-plugin'
import { ErrorCode } from '../../domain/index.ts'
import type { Scope } from '../schemas.ts'
import type { ApiKeyIdentity } from '../store/index.ts'
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

export const authPlugin = fp(async (app) => {
  app.decorateRequest('apiKey', null)
  app.addHook('onRequest', async (req, reply) => {
    const scope = req.routeOptions.config.scope
    if (scope === undefined) return
    const m = BEARER.exec(req.headers.authorization ?? '')
    const identity = m?.[1] === undefined ? null : await app.store.authenticateApiKey(m[1])
    if (identity === null) {
      reply.header('www-authenticate', 'Bearer realm="forewarn"')
      return reply.code(401).send(errorBody(ErrorCode.NOT_AUTHORIZED, m === null
        ? 'missing API key: send Authorization: Bearer <key>'
        : 'unknown or revoked API key'))
    }
    if (!identity.scopes.includes('*') && !(identity.scopes as readonly string[]).includes(scope)) {
      return reply.code(403).send(errorBody(ErrorCode.NOT_AUTHORIZED, `this API key lacks the ${scope} scope`))
    }
    req.apiKey = identity
  })
}, { name: 'forewarn-auth', fastify: '5.x', dependencies: ['forewarn-store', 'forewarn-errors'] })

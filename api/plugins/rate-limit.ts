/**
 * Per-client request limits. A client is the id of the API key it authenticated with (so the same
 * key written with other spacing or case is the same client), or else its address: requests
 * without a key, and with a wrong or revoked one, share their address's budget. Probes are exempt
 * so orchestrators never get throttled.
 */
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { ErrorCode } from '../../domain/index.ts'
import { identifyRequest } from './auth.ts'

export interface RateLimitOptions {
  /** Requests per client per window; 0 turns limiting off. */
  max: number
  windowMs: number
}

export const defaultRateLimit: RateLimitOptions = { max: 1200, windowMs: 60_000 }

export const rateLimitPlugin = fp<RateLimitOptions>(async (app, opts) => {
  if (opts.max <= 0) return
  await app.register(rateLimit, {
    global: true,
    max: opts.max,
    timeWindow: opts.windowMs,
    allowList: (req) => req.url === '/healthz' || req.url === '/readyz',
    keyGenerator: async (req) => {
      // A key that cannot be checked (the records store is down) counts against its address, so
      // the probes and the routes that need no store still answer during an outage.
      const identity = await identifyRequest(app.store, req).then((r) => r.identity, () => null)
      return identity === null ? `ip:${req.ip}` : `key:${identity.id}`
    },
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      code: ErrorCode.RATE_LIMITED,
      message: `rate limit of ${ctx.max} requests exceeded, retry in ${ctx.after}`,
    }),
  })
}, { name: 'forewarn-rate-limit', fastify: '5.x', dependencies: ['forewarn-errors', 'forewarn-store'] })

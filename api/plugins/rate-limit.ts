/**
 * Per-client request limits: a client is its API key (digested, so raw keys are not held as map
 * keys) or, without one, its address. Probes are exempt so orchestrators never get throttled.
 */
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { createHash } from 'node:crypto'
import { ErrorCode } from '../../domain/index.ts'

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
    keyGenerator: (req) => {
      const h = req.headers.authorization
      return h === undefined ? `ip:${req.ip}` : `key:${createHash('sha256').update(h).digest('base64url')}`
    },
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      code: ErrorCode.RATE_LIMITED,
      message: `rate limit of ${ctx.max} requests exceeded, retry in ${ctx.after}`,
    }),
  })
}, { name: 'forewarn-rate-limit', fastify: '5.x', dependencies: ['forewarn-errors'] })

/** Headers of every console and status page: scripts and styles from this origin only, never cached, never framed. */
import type { FastifyReply } from 'fastify'

// uPlot sizes its elements through style attributes, hence 'unsafe-inline' for styles only; no inline script anywhere.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

export function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
}

/**
 * One error shape for every answer: `{ error: { code, message } }` with the ForewarnError code,
 * so clients branch on a stable code, never on message text.
 */
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'

const statusOf: Readonly<Partial<Record<ErrorCode, number>>> = {
  [ErrorCode.BAD_PAYLOAD]: 400,
  [ErrorCode.BAD_TOPIC]: 400,
  [ErrorCode.CONFIG]: 400,
  [ErrorCode.NOT_AUTHORIZED]: 403,
  [ErrorCode.UNKNOWN_DEVICE]: 404,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.STORE]: 503,
  // The broker (external, or the cluster's registry stream) did not take a change the store made: retry.
  [ErrorCode.BROKER]: 503,
  [ErrorCode.DELIVERY]: 502,
}

export const errorBody = (code: string, message: string) => ({ error: { code, message } })

/**
 * Errors fastify answers before routing, without the error handler (the `frameworkErrors` server
 * option): a path parameter over `maxParamLength` (100; fastify's own body and 414) or a path that
 * is not valid percent-encoding. Same shape and code as a too-long id that reaches its route (400).
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
    ? 'a path parameter is longer than 100 characters'
    : err.code === 'FST_ERR_BAD_URL' ? 'the path is not valid percent-encoding' : 'bad request'
  void reply.code(400).send(errorBody(ErrorCode.BAD_PAYLOAD, message))
}

export const errorsPlugin = fp(async (app) => {
  app.setErrorHandler((err: FastifyError | ForewarnError, req, reply) => {
    if (err instanceof ForewarnError) {
      const status = statusOf[err.code] ?? 500
      if (status >= 500) req.log.error({ err }, 'request failed')
      return reply.code(status).send(errorBody(err.code, err.message))
    }
    if ('validation' in err && err.validation !== undefined) {
      return reply.code(400).send(errorBody(ErrorCode.BAD_PAYLOAD, err.message))
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) {
      req.log.error({ err }, 'request failed')
      return reply.code(status).send(errorBody(ErrorCode.INTERNAL, 'internal error'))
    }
    return reply.code(status).send(errorBody(status === 429 ? ErrorCode.RATE_LIMITED : ErrorCode.BAD_PAYLOAD, err.message))
  })
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(ErrorCode.NOT_FOUND, `no route ${req.method} ${req.url.split('?')[0]}`))
  })
}, { name: 'forewarn-errors', fastify: '5.x' })

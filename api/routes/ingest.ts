/**
 * Ingest dead letters: payloads ingest refused (malformed, unknown device, out of range …), from
 * the data source the composition root injects (`ingest.rejects`). Without one (an API without
 * ingest in its process) the list is empty.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { PageQuery, pageOf } from '../schemas.ts'
import { bearer, errors } from './common.ts'

export const RejectSchema = Type.Object({
  id: Type.String(),
  reason: Type.String({ description: 'malformed_json, schema, wrong_version, non_finite, unknown_metric, future_timestamp, stale_timestamp, oversize, unknown_device, revoked_device, bad_topic' }),
  detail: Type.String(),
  deviceId: Type.String(),
  topicKind: Type.String(),
  payloadHead: Type.String({ description: 'the first bytes of the payload, for inspection only' }),
  payloadBytes: Type.Integer(),
  receivedAt: Type.Number({ description: 'ms since epoch' }),
})

export interface RejectView {
  id: string
  reason: string
  detail: string
  deviceId: string
  topicKind: string
  payloadHead: string
  payloadBytes: number
  receivedAt: number
}

export type RejectsSource = (opts: { limit: number; after?: string }) =>
  { items: RejectView[]; next: string | null } | Promise<{ items: RejectView[]; next: string | null }>

export const ingestRoutes: FastifyPluginAsyncTypebox<{ rejects?: RejectsSource | undefined }> = async (app, opts) => {
  app.get('/ingest/rejects', {
    config: { scope: 'read' },
    schema: {
      tags: ['ingest'], security: bearer, summary: 'Payloads ingest refused, oldest first (a bounded dead-letter table)',
      querystring: PageQuery, response: { 200: pageOf(RejectSchema), ...errors },
    },
  }, async (req) => {
    if (opts.rejects === undefined) return { items: [], next: null }
    const limit = req.query.limit ?? 100
    return opts.rejects(req.query.after === undefined ? { limit } : { limit, after: req.query.after })
  })
}

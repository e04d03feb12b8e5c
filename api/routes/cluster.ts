/**
 * GET /cluster: the live processes of a cluster with their roles, who owns each partition of the
 * readings stream and how far it lags (docs/scaling.md), from the source the composition root
 * injects. One process without --cluster answers `clustered: false` and empty lists.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { bearer, errors } from './common.ts'

const Role = Type.Union([Type.Literal('edge'), Type.Literal('worker'), Type.Literal('api')])

export const ClusterSchema = Type.Object({
  clustered: Type.Boolean(),
  self: Type.Union([Type.String(), Type.Null()], { description: 'this process\'s member id' }),
  members: Type.Array(Type.Object({
    id: Type.String({ description: '<host>-<pid>-<random>' }),
    roles: Type.Array(Role),
    partitions: Type.Array(Type.Integer(), { description: 'partitions a worker owns now' }),
  })),
  partitions: Type.Array(Type.Object({
    partition: Type.Integer(),
    owner: Type.Union([Type.String(), Type.Null()], { description: 'null while no live worker holds it (a take-over in progress)' }),
    lag: Type.Union([Type.Integer(), Type.Null()], { description: 'messages in the stream after the last one its owner received' }),
  })),
})

export interface ClusterSourceView {
  self: string
  members: { id: string; roles: ('edge' | 'worker' | 'api')[]; partitions?: Record<string, number> }[]
  partitions: { partition: number; owner: string | null; lag: number | null }[]
}
export type ClusterSource = () => ClusterSourceView

export const clusterRoutes: FastifyPluginAsyncTypebox<{ cluster?: ClusterSource | undefined }> = async (app, opts) => {
  app.get('/cluster', {
    config: { scope: 'read' },
    schema: {
      tags: ['cluster'], security: bearer, summary: 'Cluster members, partition owners and lag',
      response: { 200: ClusterSchema, ...errors },
    },
  }, async () => {
    if (opts.cluster === undefined) return { clustered: false, self: null, members: [], partitions: [] }
    const v = opts.cluster()
    return {
      clustered: true,
      self: v.self,
      members: v.members.map((m) => ({ id: m.id, roles: m.roles, partitions: Object.keys(m.partitions ?? {}).map(Number).sort((a, b) => a - b) })),
      partitions: v.partitions,
    }
  })
}

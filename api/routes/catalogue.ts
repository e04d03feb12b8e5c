/**
 * The loaded machine catalogue (read): the shipped types plus the operator's catalogue files, and
 * what each engine-watched type has learnt from its fleet (its normal, its failure signatures).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type, { type Static } from 'typebox'
import { applianceSpec, type ApplianceSpec, ErrorCode, ForewarnError, isApplianceType, loadedTypes } from '../../domain/index.ts'
import { ApplianceSpecSchema } from '../../domain/catalogue-schema.ts'
import { bearer, errors } from './common.ts'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const TypeModelSchema = Type.Object({
  type: Type.String(),
  watchedBy: Type.Union([Type.Literal('engine'), Type.Literal('appliance-detector')], { description: 'engine: a data-defined type; appliance-detector: a shipped type with its own features' }),
  reference: Nullable(Type.Object({
    devices: Type.Integer({ description: 'healthy devices the normal was learnt from' }),
    deviceIds: Type.Array(Type.String()),
    rows: Type.Integer(),
    from: Type.String({ description: 'event time of the oldest row learnt from (ISO 8601)' }),
    to: Type.String({ description: 'event time of the newest row learnt from (ISO 8601)' }),
    learntAt: Type.String(),
  })),
  failure: Nullable(Type.Object({
    failures: Type.Integer({ description: 'runs to failure: tickets resolved with a part replaced' }),
    rows: Type.Integer(),
    capHours: Type.Number({ description: 'remaining life beyond which the history cannot tell' }),
    learntAt: Type.String(),
    runs: Type.Array(Type.Object({ deviceId: Type.String(), ticketId: Type.String(), resolvedAt: Type.String(), rows: Type.Integer(), from: Type.String(), to: Type.String() })),
  })),
})
export type TypeModelView = Static<typeof TypeModelSchema>

/** The domain's spec is read-only; the route serialises it as is. */
const asFile = (s: ApplianceSpec) => s as unknown as Static<typeof ApplianceSpecSchema>

/** Where the fleet models come from (cli/fleet-models.ts); without one every type shows none learnt. */
export type TypeModelSource = (type: string) => TypeModelView | null

const TypeParam = Type.Object({ type: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }) })

export const catalogueRoutes: FastifyPluginAsyncTypebox<{ models?: TypeModelSource | undefined }> = async (app, opts) => {
  const known = (type: string) => {
    if (!isApplianceType(type)) throw new ForewarnError(ErrorCode.NOT_FOUND, `no machine type ${type} in the loaded catalogue`)
    return applianceSpec(type)
  }

  app.get('/catalogue', {
    config: { scope: 'read' },
    schema: {
      tags: ['catalogue'], security: bearer, summary: 'Every loaded machine type (shipped and from catalogue files), in the catalogue file format',
      response: { 200: Type.Object({ items: Type.Array(ApplianceSpecSchema) }), ...errors },
    },
  }, async () => ({ items: loadedTypes().map((t) => asFile(applianceSpec(t))) }))

  app.get('/catalogue/:type', {
    config: { scope: 'read' },
    schema: { tags: ['catalogue'], security: bearer, summary: 'One machine type', params: TypeParam, response: { 200: ApplianceSpecSchema, ...errors } },
  }, async (req) => asFile(known(req.params.type)))

  app.get('/catalogue/:type/model', {
    config: { scope: 'read' },
    schema: {
      tags: ['catalogue'], security: bearer, params: TypeParam, response: { 200: TypeModelSchema, ...errors },
      summary: 'What the type learnt from its fleet: its normal (healthy devices, time range) and its failure signatures (parts replaced)',
    },
  }, async (req) => {
    known(req.params.type)
    return opts.models?.(req.params.type) ?? { type: req.params.type, watchedBy: 'engine' as const, reference: null, failure: null }
  })
}

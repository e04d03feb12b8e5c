/** Devices: provisioning and credentials (devices:admin), the health record and history (read). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import {
  ApplianceTypeSchema, ConnectionStateSchema, Credentials, DeviceSchema, ErrorSchema, HealthRecordSchema, HistoryEntrySchema,
  NewDevice, PageQuery, VerifyResultSchema, pageOf,
} from '../schemas.ts'
import { bearer, errors, IdParam } from './common.ts'

const notFound = (id: string) => new ForewarnError(ErrorCode.NOT_FOUND, `no device ${id}`)

export const deviceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.store

  app.post('/devices', {
    config: { scope: 'devices:admin' },
    schema: {
      tags: ['devices'], security: bearer, summary: 'Provision a device; the answer holds its MQTT password, shown only this once',
      description: 'With `gatewayId`, the device is registered behind that gateway (400 when unknown, 409 when revoked), which may then publish for it.',
      body: NewDevice,
      response: { 201: Type.Object({ device: DeviceSchema, credentials: Credentials }), 409: ErrorSchema, ...errors },
    },
  }, async (req, reply) => reply.code(201).send(await store.createDevice(req.body)))

  app.get('/devices', {
    config: { scope: 'read' },
    schema: {
      tags: ['devices'], security: bearer,
      querystring: Type.Intersect([PageQuery, Type.Object({ type: Type.Optional(ApplianceTypeSchema), status: Type.Optional(ConnectionStateSchema) })]),
      response: { 200: pageOf(DeviceSchema), ...errors },
    },
  }, async (req) => store.listDevices({ limit: req.query.limit ?? 100, after: req.query.after, type: req.query.type, status: req.query.status }))

  app.get('/devices/:id', {
    config: { scope: 'read' },
    schema: { tags: ['devices'], security: bearer, summary: 'The health record', params: IdParam, response: { 200: HealthRecordSchema, ...errors } },
  }, async (req) => {
    const rec = await store.getHealthRecord(req.params.id)
    if (rec === null) throw notFound(req.params.id)
    return rec
  })

  app.get('/devices/:id/history', {
    config: { scope: 'read' },
    schema: {
      tags: ['devices'], security: bearer, summary: 'Append-only, hash-chained history of the appliance',
      params: IdParam, querystring: PageQuery, response: { 200: pageOf(HistoryEntrySchema), ...errors },
    },
  }, async (req) => store.history(req.params.id, { limit: req.query.limit ?? 100, after: req.query.after }))

  app.get('/devices/:id/history/verify', {
    config: { scope: 'read' },
    schema: {
      tags: ['devices'], security: bearer, summary: 'Recompute the hash chain; names the first broken entry',
      params: IdParam, response: { 200: VerifyResultSchema, ...errors },
    },
  }, async (req) => store.verifyHistory(req.params.id))

  app.post('/devices/:id/revoke', {
    config: { scope: 'devices:admin' },
    schema: { tags: ['devices'], security: bearer, params: IdParam, response: { 200: DeviceSchema, ...errors } },
  }, async (req) => store.revokeDevice(req.params.id))

  app.post('/devices/:id/credentials', {
    config: { scope: 'devices:admin' },
    schema: {
      tags: ['devices'], security: bearer, summary: 'Rotate the MQTT password; the old one stops working',
      params: IdParam, response: { 200: Credentials, 409: errors[400], ...errors },
    },
  }, async (req) => store.rotateCredentials(req.params.id))
}

/**
 * Gateways (devices:admin): home hubs that publish for the devices registered behind them
 * (issue 4). A device joins a gateway when it is provisioned with `gatewayId`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { Credentials, ErrorSchema, GatewayDetailSchema, GatewaySchema, NewGateway, PageQuery, pageOf } from '../schemas.ts'
import { bearer, errors, IdParam } from './common.ts'

export const gatewayRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.store

  app.post('/gateways', {
    config: { scope: 'devices:admin' },
    schema: {
      tags: ['gateways'], security: bearer,
      summary: 'Provision a gateway; the answer holds its MQTT password (username = client id = gateway id), shown only this once',
      body: NewGateway,
      response: { 201: Type.Object({ gateway: GatewaySchema, credentials: Credentials }), ...errors },
    },
  }, async (req, reply) => reply.code(201).send(await store.createGateway(req.body)))

  app.get('/gateways', {
    config: { scope: 'devices:admin' },
    schema: { tags: ['gateways'], security: bearer, querystring: PageQuery, response: { 200: pageOf(GatewaySchema), ...errors } },
  }, async (req) => store.listGateways({ limit: req.query.limit ?? 100, after: req.query.after }))

  app.get('/gateways/:id', {
    config: { scope: 'devices:admin' },
    schema: {
      tags: ['gateways'], security: bearer, summary: 'The gateway and the devices it may publish for',
      params: IdParam, response: { 200: GatewayDetailSchema, ...errors },
    },
  }, async (req) => {
    const g = await store.getGateway(req.params.id)
    if (g === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no gateway ${req.params.id}`)
    return g
  })

  app.post('/gateways/:id/revoke', {
    config: { scope: 'devices:admin' },
    schema: {
      tags: ['gateways'], security: bearer, summary: 'Revoke the gateway: it is disconnected at once and cannot reconnect; its devices keep their own credentials',
      params: IdParam, response: { 200: GatewaySchema, ...errors },
    },
  }, async (req) => store.revokeGateway(req.params.id))

  app.post('/gateways/:id/credentials', {
    config: { scope: 'devices:admin' },
    schema: {
      tags: ['gateways'], security: bearer, summary: 'Rotate the gateway\'s MQTT password; the old one stops working and its connection is closed',
      params: IdParam, response: { 200: Credentials, 409: ErrorSchema, ...errors },
    },
  }, async (req) => store.rotateGatewayCredentials(req.params.id))
}

/** API key management, for the admin key only: issue (the key is shown once), list (no secrets), revoke. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorSchema, Scope } from '../schemas.ts'
import type { ApiKeyInfo } from '../store/index.ts'
import { bearer, errors } from './common.ts'

const KeyInfo = Type.Object({
  id: Type.String(),
  label: Type.String(),
  scopes: Type.Array(Type.String({ description: "a scope, or '*' for the admin key" })),
  createdAt: Type.String(),
  revoked: Type.Boolean(),
})

const NewKey = Type.Object({
  scopes: Type.Array(Scope, { minItems: 1, maxItems: 3, uniqueItems: true }),
  label: Type.Optional(Type.String({ maxLength: 200, description: 'who holds the key, e.g. "RT production"' })),
}, { additionalProperties: false })

const view = (k: ApiKeyInfo) => ({ ...k, scopes: [...k.scopes] })

const KeyIdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

export const apiKeyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.store

  app.post('/api-keys', {
    config: { scope: 'admin' },
    schema: {
      tags: ['api keys'], security: bearer,
      summary: 'Issue an API key: read, tickets:write (ticketing systems), devices:admin. The key is in this answer only; it is stored hashed',
      body: NewKey,
      response: { 201: Type.Object({ id: Type.String(), key: Type.String(), scopes: Type.Array(Scope), label: Type.String() }), ...errors },
    },
  }, async (req, reply) => {
    const label = req.body.label ?? ''
    const { id, key } = await store.createApiKey(req.body.scopes, label)
    return reply.code(201).send({ id, key, scopes: req.body.scopes, label })
  })

  app.get('/api-keys', {
    config: { scope: 'admin' },
    schema: { tags: ['api keys'], security: bearer, summary: 'Every key, without secrets', response: { 200: Type.Object({ items: Type.Array(KeyInfo) }), ...errors } },
  }, async () => ({ items: (await store.listApiKeys()).map(view) }))

  app.delete('/api-keys/:id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['api keys'], security: bearer, summary: 'Revoke a key; it stops working at once. The admin key is rotated through FOREWARN_ADMIN_KEY instead',
      params: KeyIdParam, response: { 200: KeyInfo, 409: ErrorSchema, ...errors },
    },
  }, async (req) => view(await store.revokeApiKey(req.params.id)))
}

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import type { Store } from '../../../api/store/index.ts'
import { auth, closeApi, openApi } from '../fixtures.ts'

describe('api key management', () => {
  let store: Store
  let app: FastifyInstance
  let admin: string
  beforeEach(async () => {
    ;({ store, app, admin } = await openApi({}, { rateLimit: { max: 0, windowMs: 1 } }))
  })
  afterEach(() => closeApi({ store, app, admin }))

  it('issues a key once with its scopes; the key works for its scope only; lists never show secrets', async () => {
    const r = await app.inject({ method: 'POST', url: '/api-keys', headers: auth(admin), payload: { scopes: ['tickets:write', 'read'], label: 'RT production' } })
    expect(r.statusCode).toBe(201)
    const issued = r.json() as { id: string; key: string; scopes: string[]; label: string }
    expect(issued).toMatchObject({ scopes: ['tickets:write', 'read'], label: 'RT production' })
    expect(issued.key).toMatch(/^fwk_[a-z2-7]{32}$/)
    expect((await app.inject({ url: '/tickets', headers: auth(issued.key) })).statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/devices', headers: auth(issued.key), payload: {} })).statusCode).toBe(403)

    const list = await app.inject({ url: '/api-keys', headers: auth(admin) })
    expect(list.statusCode).toBe(200)
    expect(list.body).not.toContain(issued.key)
    expect(list.body).not.toContain(admin)
    const items = (list.json() as { items: Array<Record<string, unknown>> }).items
    expect(items.map((k) => [k.id, k.scopes, k.label, k.revoked])).toEqual([
      ['admin', ['*'], 'admin (generated)', false],
      [issued.id, ['tickets:write', 'read'], 'RT production', false],
    ])
    expect(Object.keys(items[1]!).sort()).toEqual(['createdAt', 'id', 'label', 'revoked', 'scopes'])
  })

  it('a revoked key answers 401 at once; the admin key cannot be revoked; unknown ids are 404', async () => {
    const { id, key } = store.createApiKey(['read'], 'grafana')
    expect((await app.inject({ url: '/devices', headers: auth(key) })).statusCode).toBe(200)
    const del = await app.inject({ method: 'DELETE', url: `/api-keys/${id}`, headers: auth(admin) })
    expect(del.statusCode).toBe(200)
    expect(del.json()).toMatchObject({ id, revoked: true, scopes: ['read'], label: 'grafana' })
    expect((await app.inject({ url: '/devices', headers: auth(key) })).statusCode).toBe(401)
    const self = await app.inject({ method: 'DELETE', url: '/api-keys/admin', headers: auth(admin) })
    expect(self.statusCode).toBe(409)
    expect(self.json()).toMatchObject({ error: { code: 'FOREWARN_ERR_CONFLICT' } })
    expect((await app.inject({ method: 'DELETE', url: '/api-keys/key-nope', headers: auth(admin) })).statusCode).toBe(404)
  })

  it('only the admin key manages keys; bad scopes are a 400', async () => {
    const devicesAdmin = store.createApiKey(['devices:admin', 'read', 'tickets:write']).key
    for (const [method, url] of [['GET', '/api-keys'], ['POST', '/api-keys'], ['DELETE', '/api-keys/admin']] as const) {
      const r = await app.inject({ method, url, headers: auth(devicesAdmin), payload: method === 'POST' ? { scopes: ['read'] } : undefined })
      expect([url, r.statusCode, r.json()]).toEqual([url, 403, { error: { code: 'FOREWARN_ERR_NOT_AUTHORIZED', message: 'this API key lacks the admin scope' } }])
    }
    expect((await app.inject({ method: 'GET', url: '/api-keys' })).statusCode).toBe(401)
    for (const payload of [{ scopes: [] }, { scopes: ['*'] }, { scopes: ['write'] }, { scopes: ['read'], extra: 1 }]) {
      const r = await app.inject({ method: 'POST', url: '/api-keys', headers: auth(admin), payload })
      expect([payload, r.statusCode]).toEqual([payload, 400])
    }
  })
})

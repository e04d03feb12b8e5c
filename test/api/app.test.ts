import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../api/app.ts'
import type { Store } from '../../api/store/index.ts'
import { event, fridge, auth, closeApi, openApi } from './fixtures.ts'

describe('api', () => {
  let store: Store
  let app: FastifyInstance
  let admin: string
  beforeEach(async () => {
    ;({ store, app, admin } = await openApi({}, { publicUrl: 'http://forewarn.test' }))
  })
  afterEach(() => closeApi({ store, app, admin }))

  it('readyz answers with a key while the store cannot check keys: the caller counts as anonymous', async () => {
    const down = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'authenticateApiKey') return () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { retriable: true }) }
        const value = Reflect.get(target, prop, receiver) as unknown
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const outage = await buildApi({ store: down, rateLimit: { max: 100, windowMs: 60_000 }, readiness: async () => ({ records: { ok: false, state: 'records-store writes failing and retried; checkpoints held', detail: 'ECONNREFUSED' } }) })
    try {
      const r = await outage.inject({ url: '/readyz', headers: auth(admin) })
      expect(r.statusCode).toBe(503)
      expect(r.json()).toEqual({ ok: false, checks: { records: { ok: false, state: 'records-store writes failing and retried; checkpoints held' }, database: { ok: true } } })
    } finally {
      await outage.close()
    }
  })

  it('probes need no key; readyz reports every check and answers 503 when one fails; details only with a key', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ ok: true })
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ ok: true, checks: { database: { ok: true } } })
    const failing = await buildApi({ store, readiness: async () => ({ broker: { ok: false, detail: 'not listening' }, influx: { ok: true, detail: 'lastError: ECONNREFUSED 10.0.0.5' } }) })
    try {
      const r = await failing.inject({ url: '/readyz' })
      expect(r.statusCode).toBe(503)
      expect(r.json()).toEqual({ ok: false, checks: { broker: { ok: false }, influx: { ok: true }, database: { ok: true } } })
      expect((await failing.inject({ url: '/readyz', headers: auth('fwk_wrong') })).json()).toEqual(r.json())
      const withKey = await failing.inject({ url: '/readyz', headers: auth(store.createApiKey(['read']).key) })
      expect(withKey.statusCode).toBe(503)
      expect(withKey.json()).toEqual({
        ok: false, checks: { broker: { ok: false, detail: 'not listening' }, influx: { ok: true, detail: 'lastError: ECONNREFUSED 10.0.0.5' }, database: { ok: true } },
      })
    } finally {
      await failing.close()
    }
  })

  it('401 without or with an unknown key, 403 without the scope, 200 with it', async () => {
    const none = await app.inject({ url: '/devices' })
    expect(none.statusCode).toBe(401)
    expect(none.json()).toEqual({ error: { code: 'FOREWARN_ERR_NOT_AUTHORIZED', message: 'missing API key: send Authorization: Bearer <key>' } })
    expect((await app.inject({ url: '/devices', headers: auth('fwk_wrong') })).statusCode).toBe(401)
    const reader = store.createApiKey(['read']).key
    expect((await app.inject({ url: '/devices', headers: auth(reader) })).statusCode).toBe(200)
    const denied = await app.inject({ method: 'POST', url: '/devices', headers: auth(reader), payload: fridge })
    expect(denied.statusCode).toBe(403)
    expect(denied.json()).toEqual({ error: { code: 'FOREWARN_ERR_NOT_AUTHORIZED', message: 'this API key lacks the devices:admin scope' } })
    expect((await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: fridge })).statusCode).toBe(201)
  })

  it('provisioning answers the password once; it verifies; reads never show it', async () => {
    const r = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: fridge })
    expect(r.statusCode).toBe(201)
    const { device, credentials } = r.json() as { device: { id: string }; credentials: { username: string; password: string } }
    expect(credentials.username).toBe(device.id)
    expect(store.verifyDeviceCredentials(device.id, Buffer.from(credentials.password))?.id).toBe(device.id)
    const rec = await app.inject({ url: `/devices/${device.id}`, headers: auth(admin) })
    expect(rec.statusCode).toBe(200)
    expect(rec.body).not.toContain(credentials.password)
    expect(rec.json()).toMatchObject({ device: { id: device.id, serial: 'SN-0001' }, status: 'healthy', health: null, activeWarnings: [], openTickets: [] })
    const rotated = await app.inject({ method: 'POST', url: `/devices/${device.id}/credentials`, headers: auth(admin) })
    expect(store.verifyDeviceCredentials(device.id, Buffer.from(credentials.password))).toBeNull()
    expect(store.verifyDeviceCredentials(device.id, Buffer.from((rotated.json() as { password: string }).password))?.id).toBe(device.id)
    const revoked = await app.inject({ method: 'POST', url: `/devices/${device.id}/revoke`, headers: auth(admin) })
    expect(revoked.json()).toMatchObject({ id: device.id, revoked: true })
    expect((await app.inject({ method: 'POST', url: `/devices/${device.id}/credentials`, headers: auth(admin) })).statusCode).toBe(409)
  })

  it('rejects a bad body with 400 and the error shape; unknown ids are 404', async () => {
    const r = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: { ...fridge, type: 'toaster' } })
    expect(r.statusCode).toBe(400)
    expect((r.json() as { error: { code: string } }).error.code).toBe('FOREWARN_ERR_BAD_PAYLOAD')
    const extra = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: { ...fridge, colour: 'red' } })
    expect(extra.statusCode).toBe(400)
    const missing = await app.inject({ url: '/devices/ref-aaaaaaaaaaaa', headers: auth(admin) })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ error: { code: 'FOREWARN_ERR_NOT_FOUND', message: 'no device ref-aaaaaaaaaaaa' } })
    expect((await app.inject({ url: '/tickets/tk-none', headers: auth(admin) })).statusCode).toBe(404)
    expect((await app.inject({ url: '/devices?after=%%%', headers: auth(admin) })).statusCode).toBe(400)
  })

  it('pages lists of 100 by default with a cursor', async () => {
    for (let i = 0; i < 103; i++) store.createDevice({ ...fridge, serial: `SN-${i}` })
    const p1 = (await app.inject({ url: '/devices', headers: auth(admin) })).json() as { items: unknown[]; next: string | null }
    expect(p1.items.length).toBe(100)
    expect(p1.next).not.toBeNull()
    const p2 = (await app.inject({ url: `/devices?after=${p1.next}`, headers: auth(admin) })).json() as { items: unknown[]; next: string | null }
    expect(p2.items.length).toBe(3)
    expect(p2.next).toBeNull()
    const small = (await app.inject({ url: '/devices?limit=2&type=refrigerator', headers: auth(admin) })).json() as { items: unknown[] }
    expect(small.items.length).toBe(2)
  })

  it('warnings, tickets, transitions and history through the API', async () => {
    const { device } = store.createDevice(fridge)
    const applied = store.applyDetectorEvent(event(device.id), Date.parse('2026-03-01T08:00:00Z'))
    const warnings = (await app.inject({ url: `/warnings?deviceId=${device.id}&state=active`, headers: auth(admin) })).json()
    expect(warnings).toMatchObject({ items: [{ id: applied.warning.id, ticketId: applied.ticket!.id, severity: 'warning' }], next: null })
    const tickets = (await app.inject({ url: '/tickets', headers: auth(admin) })).json() as { items: Array<{ id: string; links: { healthRecord: string } }> }
    expect(tickets.items.map((t) => t.id)).toEqual([applied.ticket!.id])
    expect(tickets.items[0]!.links.healthRecord).toBe(`http://forewarn.test/devices/${device.id}`)
    expect((await app.inject({ url: `/tickets/${applied.ticket!.id}`, headers: auth(admin) })).json()).toEqual(applied.ticket)

    const writer = store.createApiKey(['tickets:write']).key
    const ack = await app.inject({ method: 'POST', url: `/tickets/${applied.ticket!.id}/transitions`, headers: auth(writer), payload: { state: 'acknowledged' } })
    expect(ack.json()).toMatchObject({ state: 'acknowledged' })
    const back = await app.inject({ method: 'POST', url: `/tickets/${applied.ticket!.id}/transitions`, headers: auth(writer), payload: { state: 'open' } })
    expect(back.statusCode).toBe(409)

    const feed = (await app.inject({ url: '/tickets/feed?limit=1', headers: auth(admin) })).json() as { items: Array<{ event: string; ticket: { state: string } }>; next: string }
    expect(feed.items.map((i) => [i.event, i.ticket.state])).toEqual([['ticket.created', 'open']])
    const feed2 = (await app.inject({ url: `/tickets/feed?after=${feed.next}`, headers: auth(admin) })).json() as { items: Array<{ event: string; ticket: { state: string } }>; next: null }
    expect(feed2).toMatchObject({ items: [{ event: 'ticket.updated', ticket: { state: 'acknowledged' } }], next: null })

    const tl = (await app.inject({ url: `/tickets/${applied.ticket!.id}/timeline`, headers: auth(admin) })).json() as { steps: Array<{ state: string }> }
    expect(tl.steps.map((s) => s.state)).toEqual(['open', 'acknowledged'])

    const hist = (await app.inject({ url: `/devices/${device.id}/history`, headers: auth(admin) })).json() as { items: Array<{ kind: string }> }
    expect(hist.items.map((e) => e.kind)).toEqual(['device.provisioned', 'warning.raised', 'ticket.opened', 'ticket.acknowledged'])
    expect((await app.inject({ url: `/devices/${device.id}/history/verify`, headers: auth(admin) })).json()).toEqual({ ok: true, entries: 4 })
  })

  it('limits requests per API key with a 429 in the error shape; probes are exempt', async () => {
    const limited = await buildApi({ store, rateLimit: { max: 2, windowMs: 60_000 } })
    try {
      const codes: number[] = []
      for (let i = 0; i < 3; i++) codes.push((await limited.inject({ url: '/warnings', headers: auth(admin) })).statusCode)
      expect(codes).toEqual([200, 200, 429])
      const r = await limited.inject({ url: '/warnings', headers: auth(admin) })
      expect((r.json() as { error: { code: string } }).error.code).toBe('FOREWARN_ERR_RATE_LIMITED')
      expect((await limited.inject({ url: '/warnings', headers: auth(store.createApiKey(['read']).key) })).statusCode).toBe(200)
      for (let i = 0; i < 3; i++) expect((await limited.inject({ url: '/healthz' })).statusCode).toBe(200)
    } finally {
      await limited.close()
    }
  })

  it('serves the OpenAPI document with every route and the bearer scheme', async () => {
    const r = await app.inject({ url: '/docs/json' })
    expect(r.statusCode).toBe(200)
    const doc = r.json() as { paths: Record<string, unknown>; components: { securitySchemes: Record<string, unknown> } }
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api-keys', '/api-keys/{id}', '/catalogue', '/catalogue/{type}', '/catalogue/{type}/model', '/cluster', '/deliveries/dead', '/deliveries/{jobId}/replay',
      '/devices', '/devices/{id}', '/devices/{id}/credentials', '/devices/{id}/history', '/devices/{id}/history/verify',
      '/devices/{id}/revoke', '/gateways', '/gateways/{id}', '/gateways/{id}/credentials', '/gateways/{id}/revoke', '/healthz', '/ingest/rejects', '/metrics', '/readyz', '/tickets', '/tickets/feed', '/tickets/precision',
      '/tickets/{id}', '/tickets/{id}/status-link/revoke', '/tickets/{id}/timeline', '/tickets/{id}/transitions', '/warnings',
    ])
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' })
    expect((await app.inject({ url: '/docs' })).statusCode).toBeLessThan(400)
  })
})

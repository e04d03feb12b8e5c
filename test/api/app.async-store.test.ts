import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../api/app.ts'
import { openStore, type Store } from '../../api/store/index.ts'
import { asyncStore } from '../../api/store/open.ts'
import { event, fridge } from './fixtures.ts'

// The routes await every store call: the same API runs on a store whose every answer is a promise
// (the PostgreSQL shape), here the embedded store wrapped so that each call resolves later.
describe('api on an asynchronous store', () => {
  let sync: Store
  let app: FastifyInstance
  let admin: string
  const as = (key: string) => ({ authorization: `Bearer ${key}` })

  beforeEach(async () => {
    sync = openStore({ dataDir: null, deliveryAdapters: ['rt'] })
    admin = sync.ensureAdminKey().key!
    app = await buildApi({ store: asyncStore(sync), rateLimit: { max: 0, windowMs: 1 }, publicUrl: 'http://forewarn.test' })
  })
  afterEach(async () => {
    await app.close()
    sync.close()
  })

  it('serves devices, tickets, timeline, precision, dead letters, keys and metrics', async () => {
    const created = await app.inject({ method: 'POST', url: '/devices', headers: as(admin), payload: fridge })
    expect(created.statusCode).toBe(201)
    const deviceId = (created.json() as { device: { id: string } }).device.id
    const ticket = sync.applyDetectorEvent(event(deviceId), Date.now()).ticket!
    expect((await app.inject({ url: `/devices/${deviceId}`, headers: as(admin) })).json()).toMatchObject({ openTickets: [ticket.id] })
    expect((await app.inject({ url: `/tickets/${ticket.id}/timeline`, headers: as(admin) })).json()).toMatchObject({ ticketId: ticket.id, state: 'open' })
    const resolved = await app.inject({ method: 'POST', url: `/tickets/${ticket.id}/transitions`, headers: as(admin), payload: { state: 'resolved', outcome: 'no_fault_found' } })
    expect(resolved.json()).toMatchObject({ state: 'resolved' })
    expect((await app.inject({ url: '/tickets/precision', headers: as(admin) })).json()).toEqual({
      items: [{ faultCode: 'REF-CMPW', model: 'FR-450X', confirmed: 0, noFaultFound: 1, declined: 0, precision: 0 }],
    })

    const port = sync.outboxPort({ leaseMs: 0 })
    const [job] = port.claimDue(Date.now(), 1)
    port.markDead(job!.id, 1, 'refused')
    expect((await app.inject({ url: '/deliveries/dead', headers: as(admin) })).json()).toMatchObject({ items: [{ id: job!.id, lastError: 'refused' }] })
    expect((await app.inject({ method: 'POST', url: `/deliveries/${job!.id}/replay`, headers: as(admin) })).statusCode).toBe(200)

    const key = (await app.inject({ method: 'POST', url: '/api-keys', headers: as(admin), payload: { scopes: ['read'] } })).json() as { id: string; key: string }
    expect((await app.inject({ url: '/metrics', headers: as(key.key) })).body).toContain('forewarn_tickets 1')
    expect((await app.inject({ method: 'DELETE', url: `/api-keys/${key.id}`, headers: as(admin) })).statusCode).toBe(200)
    expect((await app.inject({ url: '/metrics', headers: as(key.key) })).statusCode).toBe(401)
    // Store errors arrive as rejections and still get the error shape.
    expect((await app.inject({ method: 'DELETE', url: '/api-keys/admin', headers: as(admin) })).statusCode).toBe(409)
    expect((await app.inject({ url: '/devices/ref-nope/history', headers: as(admin) })).statusCode).toBe(404)
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ ok: true, checks: { database: { ok: true } } })
  })
})

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import type { Store } from '../../../api/store/index.ts'
import { createDeliveryWorker } from '../../../api/delivery/worker.ts'
import type { DeliveryAdapter } from '../../../api/delivery/types.ts'
import { ErrorCode, ForewarnError } from '../../../domain/index.ts'
import { event, fridge, auth, closeApi, openApi } from '../fixtures.ts'

describe('dead letters of delivery', () => {
  let store: Store
  let app: FastifyInstance
  let admin: string
  beforeEach(async () => {
    ;({ store, app, admin } = await openApi({ deliveryAdapters: ['rt'] }, { rateLimit: { max: 0, windowMs: 1 } }))
  })
  afterEach(() => closeApi({ store, app, admin }))

  it('lists dead jobs, replays one, and the worker then delivers it', async () => {
    const { device } = store.createDevice(fridge)
    const ticket = store.applyDetectorEvent(event(device.id), Date.now()).ticket!
    let refuse = true
    const delivered: string[] = []
    const rt: DeliveryAdapter = {
      name: 'rt',
      async deliver(t) {
        if (refuse) throw new ForewarnError(ErrorCode.DELIVERY, 'RT answered 400: queue does not exist', { retriable: false })
        delivered.push(t.id)
        return { externalRef: '17' }
      },
    }
    const worker = createDeliveryWorker({ outbox: store.outboxPort({ leaseMs: 0 }), adapters: [rt], maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1, pollMs: 10 })
    expect((await worker.runOnce()).dead).toBe(1)

    const writer = store.createApiKey(['tickets:write']).key
    const dead = await app.inject({ url: '/deliveries/dead', headers: auth(writer) })
    expect(dead.statusCode).toBe(200)
    const body = dead.json() as { items: Array<{ id: string }>; next: string | null }
    expect(body).toEqual({
      items: [{ id: body.items[0]!.id, ticketId: ticket.id, adapter: 'rt', event: 'ticket.created', attempts: 1, lastError: 'RT answered 400: queue does not exist' }],
      next: null,
    })
    const jobId = body.items[0]!.id

    refuse = false
    const replay = await app.inject({ method: 'POST', url: `/deliveries/${jobId}/replay`, headers: auth(writer) })
    expect(replay.statusCode).toBe(200)
    expect(replay.json()).toEqual({ jobId, replayed: true })
    expect((await app.inject({ url: '/deliveries/dead', headers: auth(admin) })).json()).toEqual({ items: [], next: null })
    expect((await worker.runOnce()).delivered).toBe(1)
    expect(delivered).toEqual([ticket.id])
    expect(store.listOutbox({ limit: 10, adapter: 'rt' }).items.map((o) => [o.state, o.externalRef])).toEqual([['delivered', '17']])

    // Replaying a job that is not dead (or does not exist) is a 404.
    const again = await app.inject({ method: 'POST', url: `/deliveries/${jobId}/replay`, headers: auth(writer) })
    expect(again.statusCode).toBe(404)
    expect(again.json()).toEqual({ error: { code: 'FOREWARN_ERR_NOT_FOUND', message: `no dead delivery job ${jobId}` } })
  })

  it('needs tickets:write: a read key gets 403', async () => {
    const reader = store.createApiKey(['read']).key
    expect((await app.inject({ url: '/deliveries/dead', headers: auth(reader) })).statusCode).toBe(403)
    expect((await app.inject({ method: 'POST', url: '/deliveries/ob-x/replay', headers: auth(reader) })).statusCode).toBe(403)
  })

  it('pages through dead jobs with the cursor', async () => {
    const { device } = store.createDevice(fridge)
    const port = store.outboxPort({ leaseMs: 0 })
    for (let i = 0; i < 3; i++) store.applyDetectorEvent(event(device.id, { episodeId: `e${i}`, faultCode: ['REF-CMPW', 'REF-LEAK', 'REF-CFAN'][i]! }), Date.now() + i * 2 * 86_400_000)
    for (const j of port.claimDue(Date.now() + 10 * 86_400_000, 10)) port.markDead(j.id, 1, 'gone')
    const first = (await app.inject({ url: '/deliveries/dead?limit=2', headers: auth(admin) })).json() as { items: unknown[]; next: string }
    expect(first.items).toHaveLength(2)
    const second = (await app.inject({ url: `/deliveries/dead?limit=2&after=${first.next}`, headers: auth(admin) })).json() as { items: unknown[]; next: null }
    expect(second.items).toHaveLength(1)
    expect(second.next).toBeNull()
  })
})

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../../api/app.ts'
import { openStore, type Store } from '../../../api/store/index.ts'
import { event, fridge } from '../fixtures.ts'

const DAY = 86_400_000

describe('precision and repeat repairs over HTTP', () => {
  let now = Date.parse('2026-03-01T08:00:00Z')
  let store: Store
  let app: FastifyInstance
  let writer: string
  let reader: string
  const as = (key: string) => ({ authorization: `Bearer ${key}` })

  beforeEach(async () => {
    store = openStore({ dataDir: null, now: () => now })
    writer = store.createApiKey(['tickets:write', 'read']).key
    reader = store.createApiKey(['read']).key
    app = await buildApi({ store, rateLimit: { max: 0, windowMs: 1 } })
  })
  afterEach(async () => {
    await app.close()
    store.close()
  })

  it('resolutions through the API feed GET /tickets/precision; a returning fault is a repeat repair on the new ticket', async () => {
    const { device } = store.createDevice(fridge)
    const first = store.applyDetectorEvent(event(device.id, { episodeId: 'a' }), now).ticket!
    const done = await app.inject({ method: 'POST', url: `/tickets/${first.id}/transitions`, headers: as(writer), payload: { state: 'resolved', outcome: 'repaired' } })
    expect(done.statusCode).toBe(200)
    expect(done.json()).toMatchObject({ state: 'resolved', repeatRepair: false, repeatOf: null })

    now += 3 * DAY
    const second = store.applyDetectorEvent(event(device.id, { episodeId: 'b' }), now).ticket!
    const shown = (await app.inject({ url: `/tickets/${second.id}`, headers: as(reader) })).json()
    expect(shown).toMatchObject({ repeatRepair: true, repeatOf: { ticketId: first.id, outcome: 'repaired', daysSinceRepair: 3 } })
    await app.inject({ method: 'POST', url: `/tickets/${second.id}/transitions`, headers: as(writer), payload: { state: 'resolved', outcome: 'no_fault_found' } })

    const p = await app.inject({ url: '/tickets/precision', headers: as(reader) })
    expect(p.statusCode).toBe(200)
    expect(p.json()).toEqual({ items: [{ faultCode: 'REF-CMPW', model: 'FR-450X', confirmed: 1, noFaultFound: 1, declined: 0, precision: 0.5 }] })
    expect((await app.inject({ url: '/tickets/precision?model=OTHER', headers: as(reader) })).json()).toEqual({ items: [] })
    expect((await app.inject({ url: '/tickets/precision' })).statusCode).toBe(401)
  })
})

import { afterEach, describe, expect, it } from 'vitest'
import { openStore, type Store } from '../../../api/store/index.ts'
import { event, fridge } from '../fixtures.ts'

describe('sqlite outbox port: order per ticket and adapter', () => {
  let store: Store
  afterEach(() => store.close())

  /** A ticket with a create job and an update job for adapter 'rt' (and 'webhook'). */
  function ticketWithTwoJobs(adapters = ['rt']) {
    store = openStore({ dataDir: null, deliveryAdapters: adapters, now: () => 1_000 })
    const { device } = store.createDevice(fridge)
    const t = store.applyDetectorEvent(event(device.id), 1_000).ticket!
    store.transitionTicket(t.id, { state: 'acknowledged' })
    const jobs = store.listOutbox({ limit: 100, adapter: 'rt' }).items.map((o) => o.id)
    expect(jobs).toHaveLength(2)
    return { ticketId: t.id, create: jobs[0]!, update: jobs[1]! }
  }

  it('a newer job is not handed out while an older one of its ticket and adapter waits for its retry', () => {
    const { create, update } = ticketWithTwoJobs()
    const port = store.outboxPort({ leaseMs: 0 })
    expect(port.claimDue(2_000, 10).map((j) => j.id)).toEqual([create, update])
    port.markRetry(create, 1, 10_000, 'RT down')
    expect(port.claimDue(5_000, 10)).toEqual([])
    expect(port.claimDue(10_000, 10).map((j) => j.id)).toEqual([create, update])
  })

  it('a job leased by one worker holds back the newer job from a second worker', () => {
    const { create, update } = ticketWithTwoJobs()
    const a = store.outboxPort({ leaseMs: 30_000 })
    // The first worker claims only the create (batch of one); the second must not get the update.
    expect(a.claimDue(2_000, 1).map((j) => j.id)).toEqual([create])
    expect(store.outboxPort({ leaseMs: 30_000 }).claimDue(2_000, 10)).toEqual([])
    a.markDelivered(create, 'RT#1', 2_100)
    expect(a.claimDue(2_200, 10).map((j) => j.id)).toEqual([update])
  })

  it('a dead job no longer holds the others back; other adapters are never held back', () => {
    const { create, update } = ticketWithTwoJobs(['rt', 'webhook'])
    const port = store.outboxPort({ leaseMs: 0 })
    port.markRetry(create, 1, 60_000, 'RT down')
    const webhook = store.listOutbox({ limit: 100, adapter: 'webhook' }).items.map((o) => o.id)
    expect(port.claimDue(2_000, 10).map((j) => j.id)).toEqual(webhook)
    port.markDead(create, 2, 'refused')
    // Oldest first across adapters: webhook create, rt update, webhook update.
    expect(port.claimDue(2_000, 10).map((j) => j.id)).toEqual([webhook[0], update, webhook[1]])
    expect(port.listDead(10).items.map((j) => [j.id, j.lastError])).toEqual([[create, 'refused']])
  })
})

import { describe, expect, it } from 'vitest'
import { createUpdatePoller } from '../../../api/delivery/poller.ts'
import type { DeliveryAdapter, TicketUpdate, UpdatesPage } from '../../../api/delivery/types.ts'

const update = (n: number): TicketUpdate => ({ ticketId: `tk-${n}`, state: 'acknowledged', at: `2026-03-02T08:0${n}:00Z` })

/** A log of five updates served two per page; the cursor is the count read so far. */
function logAdapter(): { adapter: DeliveryAdapter } {
  const log = [1, 2, 3, 4, 5].map(update)
  const adapter: DeliveryAdapter = {
    name: 'log',
    async deliver() {
      return { externalRef: null }
    },
    async pollUpdates(since): Promise<UpdatesPage> {
      const from = since === null ? 0 : Number(since)
      const updates = log.slice(from, from + 2)
      return { updates, cursor: updates.length === 0 ? since : String(from + updates.length) }
    },
  }
  return { adapter }
}

describe('update poller', () => {
  it('applies every page in order and saves the cursor after each', async () => {
    const { adapter } = logAdapter()
    let cursor: string | null = null
    const saved: Array<string | null> = []
    const applied: string[] = []
    const poller = createUpdatePoller({
      adapter, pollMs: 10, loadCursor: () => cursor, saveCursor: (c) => { cursor = c; saved.push(c) }, apply: (u) => { applied.push(u.ticketId) },
    })
    expect(await poller.pollOnce()).toBe(5)
    expect(applied).toEqual(['tk-1', 'tk-2', 'tk-3', 'tk-4', 'tk-5'])
    expect(saved).toEqual(['2', '4', '5'])
    expect(await poller.pollOnce()).toBe(0)
  })

  it('a failing apply leaves the cursor before the page, so the page is applied again later', async () => {
    const { adapter } = logAdapter()
    let cursor: string | null = null
    let fail = true
    const applied: string[] = []
    const poller = createUpdatePoller({
      adapter, pollMs: 10, loadCursor: () => cursor, saveCursor: (c) => { cursor = c },
      apply: (u) => {
        if (u.ticketId === 'tk-4' && fail) throw new Error('store busy')
        applied.push(u.ticketId)
      },
    })
    await expect(poller.pollOnce()).rejects.toThrow('store busy')
    expect(cursor).toBe('2')
    fail = false
    expect(await poller.pollOnce()).toBe(3)
    expect(applied).toEqual(['tk-1', 'tk-2', 'tk-3', 'tk-3', 'tk-4', 'tk-5'])
  })

  it('refuses an adapter that cannot poll', () => {
    const adapter: DeliveryAdapter = { name: 'webhook', deliver: async () => ({ externalRef: null }) }
    expect(() => createUpdatePoller({ adapter, pollMs: 1, loadCursor: () => null, saveCursor: () => undefined, apply: () => undefined }))
      .toThrow('adapter webhook cannot poll updates')
  })
})

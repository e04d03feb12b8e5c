import { describe, expect, it } from 'vitest'
import { openStore } from '../../../api/store/index.ts'
import { ticketTimeline } from '../../../api/services/timeline.ts'
import { event, fridge } from '../fixtures.ts'

describe('ticket timeline', () => {
  it('tells the owner each step in words and keeps the SLA clock from detection', () => {
    let now = Date.parse('2026-03-01T08:00:00Z')
    const store = openStore({ dataDir: null, now: () => now })
    try {
      const { device } = store.createDevice(fridge)
      const t = store.applyDetectorEvent(event(device.id), now).ticket!
      now += 2 * 60_000
      store.transitionTicket(t.id, { state: 'acknowledged' })
      now += 4 * 3_600_000
      store.transitionTicket(t.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
      const entries = store.history(device.id, { limit: 100 }).items
      const tl = ticketTimeline(store.getTicket(t.id)!, entries, now)
      expect(tl.steps).toEqual([
        { state: 'open', at: '2026-03-01T08:00:00.000Z', text: 'We detected a developing problem with your refrigerator (compressor wear) before it broke down, and opened a repair request.' },
        { state: 'acknowledged', at: '2026-03-01T08:02:00.000Z', text: 'Our service team has confirmed the problem.' },
        { state: 'resolved', at: '2026-03-01T12:02:00.000Z', text: 'Repaired: the faulty part was replaced (Compressor 0.25 HP R600a).' },
      ])
      expect(tl.sla.confirm).toEqual({ due: '2026-03-01T08:03:00.000Z', metAt: '2026-03-01T08:02:00.000Z', status: 'met' })
      // Jumping to resolved meets the plan deadline too, but after it (3 h) and so late.
      expect(tl.sla.plan).toEqual({ due: '2026-03-01T11:00:00.000Z', metAt: '2026-03-01T12:02:00.000Z', status: 'late' })
      expect(tl.sla.close.status).toBe('met')
      const fresh = store.applyDetectorEvent(event(device.id, { faultCode: 'REF-LEAK', component: 'sealed_system', episodeId: 'e2' }), now).ticket!
      const open = ticketTimeline(fresh, store.history(device.id, { limit: 100 }).items, now + 10 * 60_000)
      expect(open.steps.map((s) => s.state)).toEqual(['open'])
      expect(open.sla.confirm.status).toBe('overdue')
      expect(open.sla.close.status).toBe('pending')
    } finally {
      store.close()
    }
  })
})

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore, type Store } from '../../../api/store/index.ts'
import { durationWords, ticketTimeline } from '../../../api/services/timeline.ts'
import { buildApi } from '../../../api/app.ts'
import { TIMELINE_MAX_HISTORY_ROWS } from '../../../api/routes/records.ts'
import { event, fridge } from '../fixtures.ts'

const T0 = Date.parse('2026-03-01T08:00:00Z')
const MIN = 60_000
const HOUR = 60 * MIN

describe('ticket timeline', () => {
  let now = T0
  let store: Store
  let deviceId: string
  beforeEach(() => {
    now = T0
    store = openStore({ dataDir: null, now: () => now })
    deviceId = store.createDevice(fridge).device.id
  })
  afterEach(() => store.close())
  const timeline = (id: string, at = now) => ticketTimeline(store.getTicket(id)!, store.history(deviceId, { limit: 1000 }).items, at)

  it('tells the owner each step in words and keeps the SLA clock from detection', () => {
    const t = store.applyDetectorEvent(event(deviceId), now).ticket!
    now += 2 * MIN
    store.transitionTicket(t.id, { state: 'acknowledged' })
    now += 4 * HOUR
    store.transitionTicket(t.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
    const tl = timeline(t.id)
    expect(tl.steps).toEqual([
      { state: 'open', at: '2026-03-01T08:00:00.000Z', text: 'We detected a developing problem with your refrigerator (compressor wear) before it broke down, and opened a repair request.' },
      { state: 'acknowledged', at: '2026-03-01T08:02:00.000Z', text: 'Our service team has confirmed the problem.' },
      { state: 'resolved', at: '2026-03-01T12:02:00.000Z', text: 'Repaired: the faulty part was replaced (Compressor 0.25 HP R600a).' },
    ])
    expect(tl.headline).toBe('Repaired: the faulty part was replaced (Compressor 0.25 HP R600a).')
    expect(tl.sla.confirm).toEqual({
      due: '2026-03-01T08:03:00.000Z', metAt: '2026-03-01T08:02:00.000Z', status: 'met',
      text: 'Confirmed 2 minutes after we detected the problem (we promised within 3 minutes).',
    })
    // Jumping to resolved meets the plan deadline too, but after it (3 h) and so late.
    expect(tl.sla.plan).toEqual({
      due: '2026-03-01T10:00:00.000Z', metAt: '2026-03-01T12:02:00.000Z', status: 'late',
      text: 'Visit planned 4 hours 2 minutes after we detected the problem, 2 hours 2 minutes later than our promise of 2 hours.',
    })
    expect(tl.sla.close).toMatchObject({ status: 'met', text: 'Finished 4 hours 2 minutes after we detected the problem (we promised within 3 days).' })
    expect(tl.clock).toEqual({
      startedAt: '2026-03-01T08:00:00.000Z', stoppedAt: '2026-03-01T12:02:00.000Z', elapsedMinutes: 242,
      text: 'Closed 4 hours 2 minutes after we detected the problem.',
    })
  })

  it('an open request: the headline, the running clock, pending and overdue promises', () => {
    const t = store.applyDetectorEvent(event(deviceId), now).ticket!
    const tl = timeline(t.id, T0 + 10 * MIN)
    expect(tl.steps.map((s) => s.state)).toEqual(['open'])
    expect(tl.headline).toBe('We found an early sign of trouble with your refrigerator and will contact you to confirm it.')
    expect(tl.clock).toEqual({ startedAt: '2026-03-01T08:00:00.000Z', stoppedAt: null, elapsedMinutes: 10, text: 'Open for 10 minutes since we detected the problem.' })
    expect(tl.sla.confirm).toMatchObject({ status: 'overdue', text: 'We promised to confirm the problem within 3 minutes; we are 7 minutes late. Sorry.' })
    expect(tl.sla.plan).toMatchObject({ status: 'pending', text: 'We promise to plan the technician visit within 2 hours of detecting the problem: 1 hour 50 minutes left.' })
    expect(tl.sla.close).toMatchObject({ status: 'pending', text: 'We promise to finish the repair within 3 days of detecting the problem: 2 days 23 hours left.' })
    // The priority of this fault (high impact, extended warranty) sets the on-site promise.
    expect(tl.sla.respond.text).toMatch(/^We promise to have a technician with you within (2|4|24) hours of detecting the problem/)
  })

  it('during the visit and after a cancellation', () => {
    const t = store.applyDetectorEvent(event(deviceId), now).ticket!
    now += MIN
    store.transitionTicket(t.id, { state: 'scheduled' })
    now += HOUR
    store.transitionTicket(t.id, { state: 'in_progress' })
    expect(timeline(t.id).headline).toBe('A technician is working on your refrigerator now.')
    now += 30 * MIN
    store.transitionTicket(t.id, { state: 'cancelled' })
    const tl = timeline(t.id, now + 5 * 86_400_000)
    expect(tl.steps.map((s) => [s.state, s.text])).toEqual([
      ['open', 'We detected a developing problem with your refrigerator (compressor wear) before it broke down, and opened a repair request.'],
      ['scheduled', 'A technician visit has been planned.'],
      ['in_progress', 'A technician is working on your refrigerator.'],
      ['cancelled', 'The repair request was cancelled.'],
    ])
    expect(tl.headline).toBe('This repair request was cancelled; nothing more will happen on it.')
    expect(tl.sla.confirm.status).toBe('met')
    expect(tl.sla.respond.status).not.toBe('pending')
    expect(tl.sla.close).toMatchObject({ metAt: null, status: 'not_needed', text: 'Not needed: the request was cancelled before we had to finish the repair.' })
    expect(tl.clock).toMatchObject({ stoppedAt: '2026-03-01T09:31:00.000Z', elapsedMinutes: 91, text: 'Cancelled 1 hour 31 minutes after we detected the problem.' })
  })

  it('no fault found and a declined repair read as such', () => {
    const a = store.applyDetectorEvent(event(deviceId), now).ticket!
    store.transitionTicket(a.id, { state: 'resolved', outcome: 'no_fault_found' })
    expect(timeline(a.id).headline).toBe('The technician checked your appliance and found no fault.')
    const b = store.applyDetectorEvent(event(deviceId, { faultCode: 'REF-LEAK', component: 'sealed_system', episodeId: 'leak' }), now).ticket!
    store.transitionTicket(b.id, { state: 'resolved', outcome: 'customer_declined' })
    expect(timeline(b.id).steps.at(-1)?.text).toBe('You chose not to have the repair done.')
  })

  it('GET /tickets/{id}/timeline answers the whole timeline', async () => {
    const key = store.createApiKey(['read']).key
    const t = store.applyDetectorEvent(event(deviceId), Date.now()).ticket!
    const app = await buildApi({ store })
    try {
      const r = await app.inject({ url: `/tickets/${t.id}/timeline`, headers: { authorization: `Bearer ${key}` } })
      expect(r.statusCode).toBe(200)
      const body = r.json() as ReturnType<typeof ticketTimeline>
      expect(Object.keys(body).sort()).toEqual(['clock', 'headline', 'sla', 'state', 'steps', 'ticketId'])
      expect(body.sla.confirm.text).toMatch(/^We promise to confirm the problem within 3 minutes/)
      expect((await app.inject({ url: '/tickets/tk-none/timeline', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(404)
    } finally {
      await app.close()
    }
  })

  it('GET /tickets/{id}/timeline reads at most TIMELINE_MAX_HISTORY_ROWS history rows and says when it stopped short', async () => {
    const key = store.createApiKey(['read']).key
    const done = store.applyDetectorEvent(event(deviceId), now).ticket!
    store.transitionTicket(done.id, { state: 'resolved', outcome: 'no_fault_found' })
    const open = store.applyDetectorEvent(event(deviceId, { faultCode: 'REF-LEAK', component: 'sealed_system', episodeId: 'leak' }), now).ticket!
    expect(open.id).not.toBe(done.id)
    // Each rotation is one history entry: a history longer than one request may read.
    for (let i = 0; i < TIMELINE_MAX_HISTORY_ROWS + 2000; i++) store.rotateCredentials(deviceId)
    store.transitionTicket(open.id, { state: 'acknowledged' })
    let rowsRead = 0
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'history') {
          return (id: string, o: { limit: number; after?: string }) => {
            const page = target.history(id, o)
            rowsRead += page.items.length
            return page
          }
        }
        const v: unknown = Reflect.get(target, prop, receiver)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    const app = await buildApi({ store: counting, rateLimit: { max: 0, windowMs: 1 } })
    try {
      const r = await app.inject({ url: `/tickets/${open.id}/timeline`, headers: { authorization: `Bearer ${key}` } })
      expect(r.statusCode).toBe(200)
      const body = r.json() as ReturnType<typeof ticketTimeline>
      expect(body.historyTruncated).toBe(true)
      expect(body.steps.map((x) => x.state)).toEqual(['open'])
      expect(rowsRead).toBe(TIMELINE_MAX_HISTORY_ROWS)
      // A resolved ticket's steps are all found in the first page: the scan stops there, complete.
      rowsRead = 0
      const resolved = (await app.inject({ url: `/tickets/${done.id}/timeline`, headers: { authorization: `Bearer ${key}` } })).json() as ReturnType<typeof ticketTimeline>
      expect(resolved.steps.map((x) => x.state)).toEqual(['open', 'resolved'])
      expect(resolved.historyTruncated).toBeUndefined()
      expect(rowsRead).toBe(1000)
    } finally {
      await app.close()
    }
  })

  it('durations in words', () => {
    expect([0, 59_000, MIN, 2 * MIN, HOUR, HOUR + MIN, 26 * HOUR + 5 * MIN, 3 * 24 * HOUR].map(durationWords)).toEqual([
      'less than a minute', 'less than a minute', '1 minute', '2 minutes', '1 hour', '1 hour 1 minute', '1 day 2 hours', '3 days',
    ])
  })
})

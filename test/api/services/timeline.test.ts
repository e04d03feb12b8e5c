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

  it('tells the owner each step in words and keeps the SLA clock from detection (a predicted fault)', () => {
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
    expect(tl.policy).toMatchObject({ kind: 'predicted', escalated: false, startedAt: '2026-03-01T08:00:00.000Z' })
    expect(tl.policy.text).toMatch(/^We found this early, before anything broke down: we will plan a technician visit with you before the fault is expected to cause a breakdown\.$/)
    // Confirm within 4 and plan within 8 working hours (P1: every day 08:00–20:00 UTC).
    expect(tl.sla.confirm).toEqual({
      due: '2026-03-01T12:00:00.000Z', metAt: '2026-03-01T08:02:00.000Z', status: 'met',
      text: 'Confirmed 2 minutes after we detected the problem (we promised within 4 hours).',
    })
    // Jumping to resolved meets the plan deadline too; here in time.
    expect(tl.sla.plan).toEqual({
      due: '2026-03-01T16:00:00.000Z', metAt: '2026-03-01T12:02:00.000Z', status: 'met',
      text: 'Visit planned 4 hours 2 minutes after we detected the problem (we promised within 8 hours).',
    })
    // Repair done before the earliest expected failure (216 h after detection).
    expect(tl.sla.close).toMatchObject({ status: 'met', text: 'Finished 4 hours 2 minutes after we detected the problem (we promised within 9 days, before the expected breakdown).' })
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
    expect(tl.sla.confirm).toMatchObject({ status: 'pending', text: 'We promise to confirm the problem within 4 hours of detecting the problem: 3 hours 50 minutes left.' })
    expect(tl.sla.plan).toMatchObject({ status: 'pending', text: 'We promise to plan the technician visit within 8 hours of detecting the problem: 7 hours 50 minutes left.' })
    // The visit a day before the earliest expected failure, the repair done before it.
    expect(tl.sla.respond).toMatchObject({ status: 'pending', text: 'We promise to have a technician with you within 8 days of detecting the problem, before the expected breakdown: 7 days 23 hours left.' })
    expect(tl.sla.close).toMatchObject({ status: 'pending', text: 'We promise to finish the repair within 9 days of detecting the problem, before the expected breakdown: 8 days 23 hours left.' })
  })

  it('a breakdown (critical firmware code) runs the 3-3-3 tier clock in calendar time', () => {
    const t = store.applyDetectorEvent(event(deviceId, { source: 'firmware', severity: 'critical', rul: null }), now).ticket!
    const tl = timeline(t.id, T0 + 10 * MIN)
    expect(tl.policy).toMatchObject({ kind: 'breakdown', escalated: false, text: 'Your appliance reported a fault that needs prompt repair: our breakdown service applies.' })
    expect(tl.sla.confirm).toMatchObject({ status: 'overdue', text: 'We promised to confirm the problem within 3 minutes; we are 7 minutes late. Sorry.' })
    expect(tl.sla.plan).toMatchObject({ status: 'pending', text: 'We promise to plan the technician visit within 2 hours of detecting the problem: 1 hour 50 minutes left.' })
    expect(tl.sla.respond).toMatchObject({ status: 'pending', text: 'We promise to have a technician with you within 2 hours of detecting the problem: 1 hour 50 minutes left.' })
    expect(tl.sla.close).toMatchObject({ status: 'pending', text: 'We promise to finish the repair within 3 days of detecting the problem: 2 days 23 hours left.' })
  })

  it('a predicted failure reached before the visit switches to the breakdown clock, and a state change writes it down', () => {
    const t = store.applyDetectorEvent(event(deviceId), now).ticket!
    const failure = Date.parse(t.sla.failureExpectedAt!)
    expect(failure).toBe(T0 + 216 * HOUR)
    expect(timeline(t.id, failure - MIN).policy.kind).toBe('predicted')
    const tl = timeline(t.id, failure + HOUR)
    expect(tl.policy).toMatchObject({ kind: 'breakdown', escalated: true, startedAt: '2026-03-10T08:00:00.000Z' })
    expect(tl.sla.confirm).toMatchObject({ status: 'overdue', text: 'We promised to confirm the problem within 3 minutes; we are 57 minutes late. Sorry.' })
    expect(tl.sla.respond).toMatchObject({ due: '2026-03-10T10:00:00.000Z', status: 'pending', text: 'We promise to have a technician with you within 2 hours of the expected breakdown: 1 hour left.' })
    now = failure + HOUR
    store.transitionTicket(t.id, { state: 'acknowledged' })
    const stored = store.getTicket(t.id)!
    expect(stored.sla).toMatchObject({ policy: 'breakdown', breakdownAt: '2026-03-10T08:00:00.000Z', respondBy: '2026-03-10T10:00:00.000Z', onFailure: null, failureExpectedAt: '2026-03-10T08:00:00.000Z' })
    expect(timeline(t.id).sla.confirm).toMatchObject({ status: 'late', metAt: '2026-03-10T09:00:00.000Z' })
  })

  it('a technician on site before the predicted failure keeps the predicted clock', () => {
    const t = store.applyDetectorEvent(event(deviceId), now).ticket!
    now += 2 * 86_400_000
    store.transitionTicket(t.id, { state: 'in_progress' })
    const tl = timeline(t.id, T0 + 300 * HOUR)
    expect(tl.policy.kind).toBe('predicted')
    expect(tl.sla.respond).toMatchObject({ status: 'met', metAt: '2026-03-03T08:00:00.000Z' })
    expect(tl.sla.close.status).toBe('overdue')
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
      expect(Object.keys(body).sort()).toEqual(['clock', 'headline', 'policy', 'sla', 'state', 'steps', 'ticketId'])
      expect(body.policy.kind).toBe('predicted')
      expect(body.sla.confirm.text).toMatch(/^We promise to confirm the problem within \d+ (days?|hours?|minutes?)( \d+ (hours?|minutes?))? of detecting the problem/)
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

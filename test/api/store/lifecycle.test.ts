import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore, type Store, type TicketChange } from '../../../api/store/index.ts'
import { event, fridge } from '../fixtures.ts'

const DAY = 86_400_000
const T0 = Date.parse('2026-03-01T08:00:00Z')

describe('lifecycle and learning', () => {
  let now = T0
  let store: Store
  let deviceId: string
  let n = 0
  /** A fresh fault episode of `faultCode` detected now. */
  const raise = (faultCode = 'REF-CMPW', component = 'compressor', severity: 'warning' | 'critical' = 'warning') =>
    store.applyDetectorEvent(event(deviceId, { faultCode, component, severity, episodeId: `ep-${++n}` }), now)

  beforeEach(() => {
    now = T0
    store = openStore({ dataDir: null, now: () => now })
    deviceId = store.createDevice(fridge).device.id
  })
  afterEach(() => store.close())

  it('no fault found: counted per fault code and model, and the same fault on that device stays quiet for the configured days', () => {
    const first = raise().ticket!
    now += DAY
    store.transitionTicket(first.id, { state: 'resolved', outcome: 'no_fault_found', note: 'compressor within spec' })
    expect(store.precision()).toEqual([{ faultCode: 'REF-CMPW', model: 'FR-450X', confirmed: 0, noFaultFound: 1, declined: 0, precision: 0 }])

    now += 5 * DAY
    const quiet = raise()
    expect(quiet.ticket).toBeNull()
    expect(quiet.warning.state).toBe('active')
    const h = store.history(deviceId, { limit: 100 }).items
    expect(h.at(-1)).toMatchObject({
      kind: 'warning.quieted',
      data: { episodeId: quiet.warning.id, faultCode: 'REF-CMPW', noFaultFoundTicketId: first.id, quietUntil: '2026-03-16T08:00:00.000Z' },
    })
    // Another fault of the same appliance is not quieted.
    expect(raise('REF-LEAK', 'sealed_system').ticketCreated).toBe(true)
    // Past the quiet period (14 days by default) the fault opens a ticket again.
    now = T0 + DAY + 14 * DAY + 1
    expect(raise().ticketCreated).toBe(true)
    expect(store.verifyHistory(deviceId)).toEqual({ ok: true, entries: h.length + 2 + 2 })
  })

  it('a critical warning breaks through the quiet period; a zero-day policy quiets nothing', () => {
    const first = raise().ticket!
    store.transitionTicket(first.id, { state: 'resolved', outcome: 'no_fault_found' })
    now += DAY
    expect(raise().ticketCreated).toBe(false)
    expect(raise('REF-CMPW', 'compressor', 'critical').ticketCreated).toBe(true)

    const loud = openStore({ dataDir: null, now: () => now, ticketPolicy: { noFaultFoundQuietDays: 0 } })
    try {
      const id = loud.createDevice(fridge).device.id
      const t = loud.applyDetectorEvent(event(id, { episodeId: 'a' }), now).ticket!
      loud.transitionTicket(t.id, { state: 'resolved', outcome: 'no_fault_found' })
      now += 1
      expect(loud.applyDetectorEvent(event(id, { episodeId: 'b' }), now).ticketCreated).toBe(true)
    } finally {
      loud.close()
    }
  })

  it('precision per fault code and model: repaired and replaced confirm, declined is left out', () => {
    const other = store.createDevice({ ...fridge, model: 'FR-300', serial: 'SN-0002' }).device.id
    const resolve = (dev: string, faultCode: string, component: string, outcome: 'part_replaced' | 'repaired' | 'no_fault_found' | 'customer_declined') => {
      const t = store.applyDetectorEvent(event(dev, { faultCode, component, episodeId: `ep-${++n}` }), now).ticket!
      store.transitionTicket(t.id, { state: 'resolved', outcome })
      now += 60 * DAY // past every quiet and repeat window
    }
    resolve(deviceId, 'REF-CMPW', 'compressor', 'part_replaced')
    resolve(deviceId, 'REF-CMPW', 'compressor', 'repaired')
    resolve(deviceId, 'REF-CMPW', 'compressor', 'no_fault_found')
    resolve(deviceId, 'REF-CMPW', 'compressor', 'customer_declined')
    resolve(other, 'REF-CMPW', 'compressor', 'no_fault_found')
    resolve(deviceId, 'REF-LEAK', 'sealed_system', 'repaired')
    expect(store.precision()).toEqual([
      { faultCode: 'REF-CMPW', model: 'FR-300', confirmed: 0, noFaultFound: 1, declined: 0, precision: 0 },
      { faultCode: 'REF-CMPW', model: 'FR-450X', confirmed: 2, noFaultFound: 1, declined: 1, precision: 2 / 3 },
      { faultCode: 'REF-LEAK', model: 'FR-450X', confirmed: 1, noFaultFound: 0, declined: 0, precision: 1 },
    ])
    expect(store.precision({ faultCode: 'REF-LEAK' })).toHaveLength(1)
    expect(store.precision({ model: 'FR-300' }).map((r) => r.faultCode)).toEqual(['REF-CMPW'])
  })

  it('every fault code joined to a resolved ticket counts once', () => {
    const t = raise().ticket!
    expect(raise('REF-CFAN', 'condenser_fan').ticket?.id).toBe(t.id) // joins within the merge window
    const change = { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' } as const
    store.transitionTicket(t.id, change)
    expect(store.precision().map((r) => [r.faultCode, r.confirmed])).toEqual([['REF-CFAN', 1], ['REF-CMPW', 1]])
  })

  it('a fault that returns within 30 days of a repair of that component is flagged as a repeat repair', () => {
    const first = raise().ticket!
    expect(first.repeatRepair).toBe(false)
    expect(first.repeatOf).toBeNull()
    store.transitionTicket(first.id, { state: 'resolved', outcome: 'part_replaced', partNumber: 'RF-CP-4410' })
    now += 10 * DAY
    const again = raise('E7', 'compressor', 'critical').ticket!
    expect(again.repeatRepair).toBe(true)
    expect(again.repeatOf).toEqual({ ticketId: first.id, outcome: 'part_replaced', resolvedAt: '2026-03-01T08:00:00.000Z', daysSinceRepair: 10 })
    expect(store.getTicket(again.id)?.repeatOf?.ticketId).toBe(first.id)
    const opened = store.history(deviceId, { limit: 100 }).items.filter((e) => e.kind === 'ticket.opened').at(-1)
    expect(opened?.data).toMatchObject({ ticketId: again.id, repeatRepair: true, previousTicketId: first.id })
    store.transitionTicket(again.id, { state: 'cancelled' })
    // Another component is not a repeat; neither is the same one past the window.
    expect(raise('REF-LEAK', 'sealed_system').ticket?.repeatRepair).toBe(false)
    store.transitionTicket(store.listTickets({ limit: 10, state: 'open' }).items[0]!.id, { state: 'cancelled' })
    now = T0 + 31 * DAY
    expect(raise().ticket?.repeatRepair).toBe(false)
  })

  it('a no-fault-found visit or a declined repair is no repair: no repeat flag after it', () => {
    const first = raise('REF-LEAK', 'sealed_system').ticket!
    store.transitionTicket(first.id, { state: 'resolved', outcome: 'customer_declined' })
    now += DAY
    expect(raise('REF-LEAK', 'sealed_system').ticket?.repeatRepair).toBe(false)
  })

  it('holds warnings of a component while its repair is in progress; other components still open tickets', () => {
    const t = raise().ticket!
    now += 2 * DAY // outside the merge window, so a new warning would otherwise open its own ticket
    store.transitionTicket(t.id, { state: 'in_progress' })
    const held = raise('E7', 'compressor', 'critical')
    expect(held.ticket).toBeNull()
    expect(held.warning.state).toBe('active')
    expect(store.history(deviceId, { limit: 100 }).items.at(-1)).toMatchObject({
      kind: 'warning.held', data: { episodeId: held.warning.id, faultCode: 'E7', component: 'compressor', ticketId: t.id },
    })
    expect(raise('REF-LEAK', 'sealed_system').ticketCreated).toBe(true)
    expect(store.counts().tickets).toBe(2)
    // The ticket's own warning turning critical during the visit does not raise its priority.
    const before = store.getTicket(t.id)!
    const esc = store.applyDetectorEvent(event(deviceId, { episodeId: t.episodeId, severity: 'critical' }), now)
    expect(esc.warning.severity).toBe('critical')
    expect(store.getTicket(t.id)).toEqual(before)
    expect(store.history(deviceId, { limit: 100 }).items.slice(-2).map((e) => e.kind)).toEqual(['warning.escalated', 'warning.held'])
  })

  it('tells listeners of each committed change with the components to hold or reset; a throwing listener changes nothing', () => {
    const seen: TicketChange[] = []
    store.onTransition(() => { throw new Error('listener bug') })
    const off = store.onTransition((c) => seen.push(c))
    const t = raise().ticket!
    raise('REF-CFAN', 'condenser_fan')
    now += 60_000
    store.transitionTicket(t.id, { state: 'in_progress' })
    now += 60_000
    const done = store.transitionTicket(t.id, { state: 'resolved', outcome: 'repaired' })
    expect(done.state).toBe('resolved')
    expect(seen.map((c) => [c.from, c.to, c.outcome, c.components, c.atMs, c.ticket.state])).toEqual([
      ['open', 'in_progress', null, ['compressor', 'condenser_fan'], T0 + 60_000, 'in_progress'],
      ['in_progress', 'resolved', 'repaired', ['compressor', 'condenser_fan'], T0 + 120_000, 'resolved'],
    ])
    off()
    const t2 = raise('REF-LEAK', 'sealed_system').ticket!
    store.transitionTicket(t2.id, { state: 'cancelled' })
    expect(seen).toHaveLength(2)
    // A rejected change is not announced.
    expect(() => store.transitionTicket(t2.id, { state: 'open' })).toThrow(/cannot go from cancelled to open/)
    expect(seen).toHaveLength(2)
  })
})

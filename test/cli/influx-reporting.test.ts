import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { slaStateOf, startInfluxReporting, type InfluxReporting } from '../../cli/influx-reporting.ts'
import { openStore } from '../../api/store/index.ts'
import { asyncStore, type AsyncRecordsStore } from '../../api/store/open.ts'
import type { TicketRecord } from '../../api/store/types.ts'
import { createMemorySink, type MemorySink } from '../../ingest/sinks/memory.ts'
import { event, fridge } from '../api/fixtures.ts'

const MIN = 60_000
const T0 = Date.UTC(2026, 0, 5, 9)
const iso = (ms: number) => new Date(ms).toISOString()
/** Confirm by +10 min, plan by +2 h, respond by +4 h, close by +3 days. */
const sla = { anchoredAt: iso(T0), confirmBy: iso(T0 + 10 * MIN), planBy: iso(T0 + 120 * MIN), respondBy: iso(T0 + 240 * MIN), closeBy: iso(T0 + 3 * 1440 * MIN) }
const ticket = (state: TicketRecord['state']) => ({ state, sla })

describe('slaStateOf', () => {
  it('is on time before the last quarter of the window to the next deadline, at risk in it, breached after it', () => {
    expect(slaStateOf(ticket('open'), T0 + 7 * MIN)).toBe('on_time')
    expect(slaStateOf(ticket('open'), T0 + 7.5 * MIN)).toBe('at_risk')
    expect(slaStateOf(ticket('open'), T0 + 10 * MIN)).toBe('at_risk')
    expect(slaStateOf(ticket('open'), T0 + 10 * MIN + 1)).toBe('breached')
  })

  it('measures against the deadline of the next step not yet reached', () => {
    // Acknowledged: the planning deadline (2 h) is next; at risk from 90 min.
    expect(slaStateOf(ticket('acknowledged'), T0 + 30 * MIN)).toBe('on_time')
    expect(slaStateOf(ticket('acknowledged'), T0 + 95 * MIN)).toBe('at_risk')
    expect(slaStateOf(ticket('acknowledged'), T0 + 121 * MIN)).toBe('breached')
    // Scheduled: responding (4 h) is next, at risk from 3 h.
    expect(slaStateOf(ticket('scheduled'), T0 + 121 * MIN)).toBe('on_time')
    expect(slaStateOf(ticket('scheduled'), T0 + 181 * MIN)).toBe('at_risk')
    // In progress: only closing (3 days) is left.
    expect(slaStateOf(ticket('in_progress'), T0 + 241 * MIN)).toBe('on_time')
    expect(slaStateOf(ticket('in_progress'), T0 + 3 * 1440 * MIN + 1)).toBe('breached')
  })

  it('counts a closed ticket on time, and a breach stays a breach', () => {
    expect(slaStateOf(ticket('resolved'), T0 + 10 * 1440 * MIN)).toBe('on_time')
    expect(slaStateOf(ticket('cancelled'), T0 + 10 * 1440 * MIN)).toBe('on_time')
    expect(slaStateOf(ticket('resolved'), T0 + 30 * MIN, 'breached')).toBe('breached')
    expect(slaStateOf(ticket('acknowledged'), T0 + 30 * MIN, 'at_risk')).toBe('on_time')
  })
})

describe('startInfluxReporting', () => {
  const log = pino({ level: 'silent' })
  let store: AsyncRecordsStore
  let sink: MemorySink
  let reporting: InfluxReporting | null = null
  afterEach(async () => {
    await reporting?.stop()
    reporting = null
    await store?.close()
  })

  /** One ticket opened at T0 (its SLA anchored there, default policy: confirm within 3 min). */
  /** A breakdown (critical firmware code) by default: its 3-minute confirm clock runs out within the test. */
  async function withTicket(nowMs: () => number, over: Parameters<typeof event>[1] = { source: 'firmware', severity: 'critical', rul: null }): Promise<TicketRecord> {
    store = asyncStore(openStore({ dataDir: null, now: nowMs }))
    sink = createMemorySink()
    const { device } = await store.createDevice(fridge)
    const { ticket: t } = await store.applyDetectorEvent(event(device.id, over), T0)
    return t as TicketRecord
  }
  const tickets = () => sink.linesOf('tickets').map((l) => l.replace(/,device_id=[^,]+/, '').replace(/ticket_id="[^"]+"/, 'ticket_id=T'))

  it('writes each ticket transition with its state, SLA state and outcome', async () => {
    let now = T0 + MIN
    const t = await withTicket(() => now)
    reporting = startInfluxReporting({ store, sink, log, now: () => now, sweepIntervalMs: 3_600_000 })
    await reporting.sweep()
    sink.lines.length = 0
    await store.transitionTicket(t.id, { state: 'acknowledged' })
    now = T0 + 200 * MIN
    await store.transitionTicket(t.id, { state: 'resolved', outcome: 'no_fault_found' })
    expect(tickets()).toEqual([
      `tickets,event=state_changed,fault_code=REF-CMPW,priority=${t.priority},type=refrigerator sla_state="on_time",state="acknowledged",ticket_id=T ${T0 + MIN}`,
      `tickets,event=state_changed,fault_code=REF-CMPW,priority=${t.priority},type=refrigerator outcome="no_fault_found",sla_state="on_time",state="resolved",ticket_id=T ${T0 + 200 * MIN}`,
    ])
  })

  it('writes every open ticket once at start, then only when its SLA state changes', async () => {
    let now = T0 + MIN
    await withTicket(() => now)
    reporting = startInfluxReporting({ store, sink, log, now: () => now, sweepIntervalMs: 3_600_000 })
    await reporting.sweep()
    now = T0 + 2 * MIN
    await reporting.sweep()
    now = T0 + 2.5 * MIN
    await reporting.sweep()
    now = T0 + 4 * MIN
    await reporting.sweep()
    await reporting.sweep()
    expect(tickets().map((l) => l.replace(/^\S+ /, ''))).toEqual([
      `sla_state="on_time",state="open",ticket_id=T ${T0 + MIN}`,
      `sla_state="at_risk",state="open",ticket_id=T ${T0 + 2.5 * MIN}`,
      `sla_state="breached",state="open",ticket_id=T ${T0 + 4 * MIN}`,
    ])
  })

  it('a predicted fault runs its own clock, and the breakdown clock once its failure time comes', async () => {
    let now = T0 + 4 * MIN
    const t = await withTicket(() => now, {})
    expect(t.sla.policy).toBe('predicted')
    reporting = startInfluxReporting({ store, sink, log, now: () => now, sweepIntervalMs: 3_600_000 })
    await reporting.sweep()
    // The breakdown confirm clock (3 minutes) from the expected failure: its last quarter is at risk.
    now = Date.parse(t.sla.failureExpectedAt!) + 2.5 * MIN
    await reporting.sweep()
    now += 1 * MIN
    await reporting.sweep()
    expect(tickets().map((l) => /sla_state="(\w+)"/.exec(l)?.[1])).toEqual(['on_time', 'at_risk', 'breached'])
  })

  it('writes an offline health point once when a device disconnects', async () => {
    const now = T0 + MIN
    const t = await withTicket(() => now)
    await store.saveHealth(t.deviceId, { overall: 61, status: 'warning', components: { compressor: { score: 61, reason: 'wear' } }, usage: { runningHours: 1, cycles: 0, doorOpenings: 0 }, lastEventTime: T0, warmingUp: false })
    reporting = startInfluxReporting({ store, sink, log, now: () => now, sweepIntervalMs: 3_600_000 })
    await reporting.sweep()
    expect(sink.linesOf('health')).toEqual([])
    await store.setConnection(t.deviceId, 'offline', now)
    await reporting.sweep()
    await reporting.sweep()
    expect(sink.linesOf('health').filter((l) => l.includes('component=overall'))).toEqual([
      `health,component=overall,device_id=${t.deviceId},model=FR-450X,region=eu-west,type=refrigerator score=61,status="offline" ${now}`,
    ])
  })
})

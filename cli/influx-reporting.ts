/**
 * What the composition root reports to the telemetry sink besides readings, health and warnings:
 * pipeline statistics per stage, ticket lifecycle events and SLA states, and devices going
 * offline, so the Grafana dashboards (dashboards/) have every series they query.
 */
import type { Logger } from 'pino'
import { effectiveSla, type TicketState } from '../domain/index.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { TicketRecord } from '../api/store/types.ts'
import type { Ingest } from '../ingest/index.ts'
import type { TelemetrySink } from '../ingest/sink.ts'
import type { Pipeline } from './pipeline.ts'

export type SlaState = 'on_time' | 'at_risk' | 'breached'

/** How far along its lifecycle each ticket state is; a step's deadline holds until it is reached. */
const stepOf: Readonly<Record<TicketState, number>> = { open: 0, acknowledged: 1, scheduled: 2, in_progress: 3, resolved: 4, cancelled: 4 }
const deadlines = [['confirmBy', 1], ['planBy', 2], ['respondBy', 3], ['closeBy', 4]] as const
const openStates: readonly TicketState[] = ['open', 'acknowledged', 'scheduled', 'in_progress']

/** The last quarter of the window from detection to the next deadline counts as "at risk". */
export const atRiskFraction = 0.25

/**
 * A ticket's SLA state at `nowMs`: breached once a deadline passed before its step was reached
 * (confirm → acknowledged, plan → scheduled, respond → in_progress, close → resolved/cancelled),
 * and it stays breached (`previous`); at risk in the last quarter of the window before the next
 * deadline; else on time. A closed ticket reached every step.
 */
export function slaStateOf(t: Pick<TicketRecord, 'state' | 'sla'>, nowMs: number, previous?: SlaState): SlaState {
  if (previous === 'breached') return 'breached'
  const reached = stepOf[t.state]
  // The clock in force: a predicted fault whose expected failure came first runs the breakdown clock.
  const e = effectiveSla(t, nowMs)
  const startedAt = Date.parse(e.startedAt)
  let next = Infinity
  for (const [key, step] of deadlines) {
    if (step <= reached) continue
    const due = Date.parse(e[key])
    if (nowMs > due) return 'breached'
    if (due < next) next = due
  }
  if (next === Infinity) return 'on_time'
  return next - nowMs <= atRiskFraction * (next - startedAt) ? 'at_risk' : 'on_time'
}

export interface InfluxReportingOptions {
  store: AsyncRecordsStore
  sink: TelemetrySink
  /** With `pipeline`, pipeline statistics are written; without them only tickets and devices are. */
  ingest?: Ingest
  pipeline?: Pick<Pipeline, 'lagMs'>
  log: Logger
  /** How often pipeline statistics are written. */
  intervalMs?: number
  /** How often open tickets' SLA states and offline devices are looked at. */
  sweepIntervalMs?: number
  /** Wall clock (ms) for SLA states and sweep points; injected in tests. */
  now?: () => number
}

export interface InfluxReporting {
  /** One SLA and offline sweep now (also runs on its timer). */
  sweep(): Promise<void>
  stop(): Promise<void>
}

const PAGE = 500

export function startInfluxReporting(o: InfluxReportingOptions): InfluxReporting {
  const intervalMs = o.intervalMs ?? 10_000
  const now = o.now ?? Date.now
  const { store, sink, log } = o

  let last = { accepted: 0, rejected: 0, dead: 0 }
  const tick = async (): Promise<void> => {
    if (!o.ingest || !o.pipeline) return
    const s = o.ingest.stats()
    const c = await store.counts()
    const at = now()
    sink.writePipeline('ingest', { accepted: s.accepted - last.accepted, rejected: s.rejectedTotal - last.rejected, lag_ms: o.pipeline.lagMs() }, at)
    sink.writePipeline('delivery', { batch_points: c.pendingDeliveries, rejected: Math.max(0, c.deadDeliveries - last.dead) }, at)
    last = { accepted: s.accepted, rejected: s.rejectedTotal, dead: c.deadDeliveries }
  }

  const writeTicket = (t: TicketRecord, slaState: SlaState, atMs: number, outcome: string | null): void => {
    sink.writeTicketEvent({
      ticketId: t.id, deviceId: t.deviceId, type: t.appliance.type, faultCode: t.fault.code, priority: t.priority,
      event: 'state_changed', state: t.state, slaState, atMs, ...(outcome === null ? {} : { outcome }),
    })
  }

  // SLA state last written per open ticket; the pipeline writes 'on_time' when it opens one.
  const sla = new Map<string, SlaState>()
  // Tickets a transition touched while a sweep was listing: the sweep's copy may be stale.
  const touched = new Set<string>()
  const unsubscribe = store.onTransition((change) => {
    const state = slaStateOf(change.ticket, change.atMs, sla.get(change.ticket.id))
    if (stepOf[change.to] === 4) sla.delete(change.ticket.id)
    else sla.set(change.ticket.id, state)
    touched.add(change.ticket.id)
    writeTicket(change.ticket, state, change.atMs, change.outcome)
  })

  let firstSweep = true
  const sweepTickets = async (): Promise<void> => {
    const at = now()
    const first = firstSweep
    firstSweep = false
    touched.clear()
    const seen = new Set<string>()
    for (const state of openStates) {
      let after: string | undefined
      do {
        const page = await store.listTickets({ limit: PAGE, after, state })
        for (const t of page.items) {
          seen.add(t.id)
          if (touched.has(t.id)) continue
          const previous = sla.get(t.id)
          const next = slaStateOf(t, at, previous)
          sla.set(t.id, next)
          // Once per ticket at start (earlier states may be unknown), then on each change.
          if (first || next !== (previous ?? 'on_time')) writeTicket(t, next, at, null)
        }
        after = page.next ?? undefined
      } while (after !== undefined)
    }
    for (const id of sla.keys()) if (!seen.has(id) && !touched.has(id)) sla.delete(id)
  }

  // Health points come from readings, so a silent device would keep its last status: write
  // 'offline' once when the records store sees it disconnected.
  let offline = new Set<string>()
  const sweepOffline = async (): Promise<void> => {
    const at = now()
    const current = new Set<string>()
    let after: string | undefined
    do {
      const page = await store.listDevices({ limit: PAGE, after, status: 'offline' })
      for (const d of page.items) {
        current.add(d.id)
        if (offline.has(d.id)) continue
        const health = (await store.getHealthRecord(d.id))?.health
        if (health) sink.writeHealth(d.id, { type: d.type, model: d.model, region: d.region }, { ...health, status: 'offline' }, at)
      }
      after = page.next ?? undefined
    } while (after !== undefined)
    offline = current
  }

  let sweeping: Promise<void> | null = null
  const sweep = (): Promise<void> => {
    sweeping ??= (async () => {
      try {
        await sweepTickets()
        await sweepOffline()
      } finally {
        sweeping = null
      }
    })()
    return sweeping
  }

  const warn = (what: string) => (err: unknown) => log.warn({ err }, what)
  const timer = setInterval(() => void tick().catch(warn('writing pipeline statistics failed')), intervalMs)
  const sweepTimer = setInterval(() => void sweep().catch(warn('SLA and offline sweep failed')), o.sweepIntervalMs ?? 60_000)
  void sweep().catch(warn('SLA and offline sweep failed'))
  return {
    sweep,
    async stop() {
      clearInterval(timer)
      clearInterval(sweepTimer)
      unsubscribe()
      await sweeping?.catch(() => undefined)
      await tick().catch(() => undefined)
    },
  }
}

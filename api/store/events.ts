/**
 * Warnings, tickets and the outbox. A detector event, the ticket policy's decision, the outbox
 * row announcing it and the history entries are one transaction: after a crash either all of it
 * happened or none, and a replayed event is recognised and changes nothing. The decisions (open,
 * join, escalate, build the ticket, allowed transitions) are the pure functions of
 * ../ticket-policy.ts; this file is the order of reads and writes around them.
 *
 * Concurrency: every writer first locks the device row (a no-op inside SQLite's write
 * transaction), so events, transitions and history appends of one device are serialised and a
 * replay that waited for the lock sees the first call's `applied_events` row. Writers of outbox
 * rows then take the dialect's outbox-order lock, so outbox numbers follow commit order and a
 * reader paging the feed by `n` never skips a row that commits later with a smaller number. Lock
 * order is always device row, then outbox: no deadlock.
 */
import { ErrorCode, ForewarnError, roundedLife, settleSla, severityRank } from '../../domain/index.ts'
import type { Device, DetectorEvent, HealthCore, TicketState, WarningState } from '../../domain/index.ts'
import { buildTicket, escalateTicket, joinWarning, mergeTarget, opensTicket, ticketTransitions, type RepeatOf, type TicketPolicy } from '../ticket-policy.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import type { Dialect } from './dialect.ts'
import { appendHistory, type HistoryStatements } from './history.ts'
import { newOutboxId, newTicketId } from './ids.ts'
import { FEED } from './outbox.ts'
import { toDevice, toOutbox, toTicket, toWarning } from './rows.ts'
import { change, first, ops, prepare, rows, type Steps } from './run.ts'
import type { ApplyResult, OutboxRow, Page, PageOptions, PrecisionRow, StoredWarning, TicketChange, TicketRecord, TicketTransition } from './types.ts'

export interface EventsDeps {
  dialect: Dialect
  history: HistoryStatements
  policy: TicketPolicy
  now: () => number
  publicUrl: () => string
  /** The owner's status token of a ticket (./status-link.ts), written into its links. */
  statusToken: (ticketId: string) => string
  /** Delivery adapters that get one outbox job per ticket change. */
  adapters: readonly string[]
}

const closedStates: readonly TicketState[] = ['resolved', 'cancelled']
const DAY_MS = 86_400_000

function statements(d: Dialect) {
  const db = d.db
  return {
    lockDevice: prepare((p: { id: string }) => d.lock(db.selectFrom('devices').selectAll().where('id', '=', p.id), 'update')),
    deviceModel: prepare((p: { id: string }) => db.selectFrom('devices').select('model').where('id', '=', p.id)),
    healthCore: prepare((p: { id: string }) => db.selectFrom('health').select('core').where('device_id', '=', p.id)),
    seen: prepare((p: { key: string }) => db.selectFrom('applied_events').select('key').where('key', '=', p.key)),
    markSeen: prepare((p: { key: string }) => db.insertInto('applied_events').values({ key: p.key }).onConflict((oc) => oc.doNothing())),
    warning: prepare((p: { id: string }) => db.selectFrom('warnings').selectAll().where('id', '=', p.id)),
    insertWarning: prepare((p: {
      id: string; device: string; fault: string; component: string; severity: string; state: string; source: string; message: string
      evidence: string; rul: string | null; eventTime: number; detectedAt: string; now: string; clearedAt: string | null
    }) => db.insertInto('warnings').values({
      id: p.id, device_id: p.device, fault_code: p.fault, component: p.component, severity: p.severity, state: p.state, source: p.source,
      message: p.message, evidence: p.evidence, rul: p.rul, event_time: p.eventTime, detected_at: p.detectedAt, updated_at: p.now, cleared_at: p.clearedAt,
    })),
    escalate: prepare((p: { id: string; severity: string; message: string; evidence: string; rul: string | null; now: string }) => db.updateTable('warnings')
      .set({ severity: p.severity, message: p.message, evidence: p.evidence, rul: p.rul, updated_at: p.now }).where('id', '=', p.id)),
    clear: prepare((p: { id: string; now: string }) =>
      db.updateTable('warnings').set({ state: 'cleared', cleared_at: p.now, updated_at: p.now }).where('id', '=', p.id)),
    linkTicket: prepare((p: { id: string; ticket: string }) => db.updateTable('warnings').set({ ticket_id: p.ticket }).where('id', '=', p.id)),
    listWarnings: prepare((p: { after: number; device: string | null; state: string | null; limit: number }) => db.selectFrom('warnings').selectAll()
      .where('n', '>', p.after).where((eb) => eb('device_id', '=', eb.fn.coalesce(eb.val(p.device), eb.ref('device_id'))))
      .where((eb) => eb('state', '=', eb.fn.coalesce(eb.val(p.state), eb.ref('state')))).orderBy('n').limit(p.limit)),
    ticket: prepare((p: { id: string }) => db.selectFrom('tickets').selectAll().where('id', '=', p.id)),
    ticketOwner: prepare((p: { id: string }) => db.selectFrom('tickets').select('device_id').where('id', '=', p.id)),
    openTickets: prepare((p: { device: string }) => db.selectFrom('tickets').select(['id', 'created_at_ms'])
      .where('device_id', '=', p.device).where('state', 'not in', closedStates).orderBy('n')),
    insertTicket: prepare((p: { id: string; device: string; episode: string; state: string; createdAtMs: number; record: string }) =>
      db.insertInto('tickets').values({ id: p.id, device_id: p.device, episode_id: p.episode, state: p.state, created_at_ms: p.createdAtMs, record: p.record })),
    updateTicket: prepare((p: { id: string; state: string; record: string }) => db.updateTable('tickets').set({ state: p.state, record: p.record }).where('id', '=', p.id)),
    listTickets: prepare((p: { after: number; device: string | null; state: string | null; limit: number }) => db.selectFrom('tickets').selectAll()
      .where('n', '>', p.after).where((eb) => eb('device_id', '=', eb.fn.coalesce(eb.val(p.device), eb.ref('device_id'))))
      .where((eb) => eb('state', '=', eb.fn.coalesce(eb.val(p.state), eb.ref('state')))).orderBy('n').limit(p.limit)),
    insertOutbox: prepare((p: { id: string; ticket: string; adapter: string; event: string; payload: string; nowMs: number; at: string }) => db.insertInto('outbox')
      .values({ id: p.id, ticket_id: p.ticket, adapter: p.adapter, event: p.event, payload: p.payload, next_attempt_at: p.nowMs, created_at: p.at })),
    listOutbox: prepare((p: { after: number; ticket: string | null; adapter: string | null; limit: number }) => db.selectFrom('outbox').selectAll()
      .where('n', '>', p.after).where((eb) => eb('ticket_id', '=', eb.fn.coalesce(eb.val(p.ticket), eb.ref('ticket_id'))))
      .where((eb) => eb('adapter', '=', eb.fn.coalesce(eb.val(p.adapter), eb.ref('adapter')))).orderBy('n').limit(p.limit)),
    // Each (fault, component) pair once, in the order of its first warning.
    ticketFaults: prepare((p: { ticket: string }) => db.selectFrom('warnings').select(['fault_code', 'component'])
      .where('ticket_id', '=', p.ticket).groupBy(['fault_code', 'component']).orderBy((eb) => eb.fn.min('n'))),
    inRepair: prepare((p: { device: string }) => db.selectFrom('tickets').select('record')
      .where('device_id', '=', p.device).where('state', '=', 'in_progress').orderBy('n')),
    insertOutcome: prepare((p: { ticket: string; fault: string; device: string; model: string; component: string; outcome: string; atMs: number }) =>
      db.insertInto('outcomes').values({
        ticket_id: p.ticket, fault_code: p.fault, device_id: p.device, model: p.model, component: p.component, outcome: p.outcome, resolved_at_ms: p.atMs,
      }).onConflict((oc) => oc.doNothing())),
    lastNoFault: prepare((p: { device: string; fault: string; since: number }) => db.selectFrom('outcomes').select(['ticket_id', 'outcome', 'resolved_at_ms'])
      .where('device_id', '=', p.device).where('fault_code', '=', p.fault).where('outcome', '=', 'no_fault_found').where('resolved_at_ms', '>=', p.since)
      .orderBy('resolved_at_ms', 'desc').limit(1)),
    lastRepair: prepare((p: { device: string; component: string; since: number; except: string }) => db.selectFrom('outcomes')
      .select(['ticket_id', 'outcome', 'resolved_at_ms']).where('device_id', '=', p.device).where('component', '=', p.component)
      .where('outcome', 'in', ['part_replaced', 'repaired']).where('resolved_at_ms', '>=', p.since).where('ticket_id', '!=', p.except)
      .orderBy('resolved_at_ms', 'desc').limit(1)),
    precision: prepare((p: { fault: string | null; model: string | null }) => db.selectFrom('outcomes')
      .select((eb) => [
        'fault_code', 'model',
        eb.fn.countAll<number>().filterWhere('outcome', 'in', ['part_replaced', 'repaired']).as('confirmed'),
        eb.fn.countAll<number>().filterWhere('outcome', '=', 'no_fault_found').as('nff'),
        eb.fn.countAll<number>().filterWhere('outcome', '=', 'customer_declined').as('declined'),
      ])
      .where((eb) => eb('fault_code', '=', eb.fn.coalesce(eb.val(p.fault), eb.ref('fault_code'))))
      .where((eb) => eb('model', '=', eb.fn.coalesce(eb.val(p.model), eb.ref('model'))))
      .groupBy(['fault_code', 'model'])),
  }
}

type Statements = ReturnType<typeof statements>

export class Events {
  private readonly s: Statements
  private readonly h: HistoryStatements

  constructor(private readonly d: EventsDeps) {
    this.s = statements(d.dialect)
    this.h = d.history
  }

  /** Locks the device row for the rest of the transaction; null when there is no such device. */
  *lockDevice(id: string): Steps<Device | null> {
    const r = yield* first(this.s.lockDevice, { id })
    return r === undefined ? null : toDevice(r)
  }

  *getWarning(id: string): Steps<StoredWarning | null> {
    const r = yield* first(this.s.warning, { id })
    return r === undefined ? null : toWarning(r)
  }

  *getTicket(id: string): Steps<TicketRecord | null> {
    const r = yield* first(this.s.ticket, { id })
    return r === undefined ? null : toTicket(r)
  }

  /** Run inside a write transaction (the caller's). */
  *apply(ev: DetectorEvent, detectedAtMs: number): Steps<ApplyResult> {
    const device = yield* this.lockDevice(ev.deviceId)
    if (device === null) throw new ForewarnError(ErrorCode.UNKNOWN_DEVICE, `unknown device ${ev.deviceId}`)
    const key = `${ev.episodeId}|${ev.kind}|${ev.severity}`
    const existing = yield* this.getWarning(ev.episodeId)
    if ((yield* first(this.s.seen, { key })) !== undefined && existing !== null) {
      const ticket = existing.ticketId === null ? null : yield* this.getTicket(existing.ticketId)
      return { warning: existing, ticket, created: false, applied: false, ticketCreated: false }
    }
    const nowMs = this.d.now()
    const now = new Date(nowMs).toISOString()
    let created = false
    let changed = false
    const entry = { episodeId: ev.episodeId, faultCode: ev.faultCode, component: ev.component, severity: ev.severity, message: ev.message, eventTime: ev.eventTime }
    const rul = ev.rul === null ? null : JSON.stringify(roundedLife(ev.rul))
    if (existing === null) {
      const state: WarningState = ev.kind === 'warning.cleared' ? 'cleared' : 'active'
      yield* change(this.s.insertWarning, {
        id: ev.episodeId, device: ev.deviceId, fault: ev.faultCode, component: ev.component, severity: ev.severity, state, source: ev.source,
        message: ev.message, evidence: JSON.stringify(ev.evidence), rul, eventTime: ev.eventTime, detectedAt: new Date(detectedAtMs).toISOString(),
        now, clearedAt: state === 'cleared' ? now : null,
      })
      yield* appendHistory(this.h, ev.deviceId, now, 'warning.raised', entry)
      if (state === 'cleared') yield* appendHistory(this.h, ev.deviceId, now, 'warning.cleared', entry)
      created = true
      changed = true
    } else if (ev.kind === 'warning.cleared') {
      if (existing.state === 'active') {
        yield* change(this.s.clear, { id: ev.episodeId, now })
        yield* appendHistory(this.h, ev.deviceId, now, 'warning.cleared', entry)
        changed = true
      }
    } else if (existing.state === 'active' && severityRank[ev.severity] > severityRank[existing.severity]) {
      yield* change(this.s.escalate, { id: ev.episodeId, severity: ev.severity, message: ev.message, evidence: JSON.stringify(ev.evidence), rul, now })
      yield* appendHistory(this.h, ev.deviceId, now, 'warning.escalated', { ...entry, from: existing.severity })
      changed = true
    }
    let ticketCreated = false
    const warning = (yield* this.getWarning(ev.episodeId)) as StoredWarning
    if (changed && warning.state === 'active') ticketCreated = yield* this.applyPolicy(device, warning, ev, detectedAtMs, nowMs)
    yield* change(this.s.markSeen, { key })
    const final = (yield* this.getWarning(ev.episodeId)) as StoredWarning
    const ticket = final.ticketId === null ? null : yield* this.getTicket(final.ticketId)
    return { warning: final, ticket, created, applied: true, ticketCreated }
  }

  /** Opens a ticket, joins an open one, or raises the priority of the one it already has. */
  private *applyPolicy(device: Device, warning: StoredWarning, ev: DetectorEvent, detectedAtMs: number, nowMs: number): Steps<boolean> {
    const p = this.d.policy
    const now = new Date(nowMs).toISOString()
    const event: DetectorEvent = { ...ev, severity: warning.severity, evidence: warning.evidence, rul: warning.rul }
    if (warning.ticketId !== null) {
      const t = yield* this.getTicket(warning.ticketId)
      if (t === null || closedStates.includes(t.state) || severityRank[event.severity] <= severityRank[t.fault.severity]) return false
      // Readings during the visit (parts out, power cut) say nothing about the fault: no new priority.
      if (t.state === 'in_progress') {
        yield* appendHistory(this.h, device.id, now, 'warning.held', { episodeId: warning.id, faultCode: warning.faultCode, component: warning.component, ticketId: t.id })
        return false
      }
      const next = escalateTicket(p, t, device, event, nowMs, detectedAtMs)
      yield* this.saveTicket(next, 'ticket.updated', nowMs)
      yield* appendHistory(this.h, device.id, now, 'ticket.escalated', { ticketId: t.id, priority: next.priority, severity: event.severity, episodeId: warning.id })
      return false
    }
    if (!opensTicket(p, warning.severity, warning.source)) return false
    // The component is being repaired right now: its warnings are the repair's own noise.
    const repair = yield* this.repairOf(device.id, warning.component)
    if (repair !== null) {
      yield* appendHistory(this.h, device.id, now, 'warning.held', { episodeId: warning.id, faultCode: warning.faultCode, component: warning.component, ticketId: repair })
      return false
    }
    // A technician found no fault recently: the same fault stays quiet, unless it turns critical
    // (a no-fault-found visit must not hide a failure that is now under way).
    const nff = warning.severity === 'critical' || p.noFaultFoundQuietDays <= 0 ? undefined
      : yield* first(this.s.lastNoFault, { device: device.id, fault: warning.faultCode, since: detectedAtMs - p.noFaultFoundQuietDays * DAY_MS })
    if (nff !== undefined) {
      yield* appendHistory(this.h, device.id, now, 'warning.quieted', {
        episodeId: warning.id, faultCode: warning.faultCode, noFaultFoundTicketId: nff.ticket_id,
        quietUntil: new Date(nff.resolved_at_ms + p.noFaultFoundQuietDays * DAY_MS).toISOString(),
      })
      return false
    }
    const repeatOf = yield* this.repeatOf(device.id, warning.component, detectedAtMs, '')
    const open = (yield* rows(this.s.openTickets, { device: device.id })).map((r) => ({ id: r.id, createdAtMs: r.created_at_ms }))
    const target = mergeTarget(p, open, detectedAtMs)
    const existing = target === null ? null : yield* this.getTicket(target.id)
    if (existing !== null) {
      let joined = joinWarning(p, existing, device, event, nowMs, detectedAtMs)
      if (!joined.repeatRepair && repeatOf !== null && repeatOf.ticketId !== joined.id) joined = { ...joined, repeatRepair: true, repeatOf }
      yield* this.saveTicket(joined, 'ticket.updated', nowMs)
      yield* change(this.s.linkTicket, { id: warning.id, ticket: joined.id })
      yield* appendHistory(this.h, device.id, now, 'ticket.warning_joined', { ticketId: joined.id, episodeId: warning.id, faultCode: warning.faultCode, priority: joined.priority })
      return false
    }
    const health = yield* first(this.s.healthCore, { id: device.id })
    const id = newTicketId()
    const ticket = buildTicket(p, {
      id, device, event, detectedAtMs, nowMs, statusToken: this.d.statusToken(id),
      healthScore: health === undefined ? null : (JSON.parse(health.core) as HealthCore).overall,
      publicUrl: this.d.publicUrl(), repeatOf,
    })
    yield* change(this.s.insertTicket, { id: ticket.id, device: device.id, episode: warning.id, state: ticket.state, createdAtMs: nowMs, record: JSON.stringify(ticket) })
    yield* this.enqueue(ticket, 'ticket.created', nowMs)
    yield* change(this.s.linkTicket, { id: warning.id, ticket: ticket.id })
    yield* appendHistory(this.h, device.id, now, 'ticket.opened', {
      ticketId: ticket.id, episodeId: warning.id, faultCode: warning.faultCode, priority: ticket.priority, coverage: ticket.warranty.coverage,
      repeatRepair: ticket.repeatRepair, previousTicketId: repeatOf?.ticketId ?? null,
    })
    return true
  }

  /** The device's ticket in repair (in progress) that covers this component, if any. */
  private *repairOf(deviceId: string, component: string): Steps<string | null> {
    for (const r of yield* rows(this.s.inRepair, { device: deviceId })) {
      const t = toTicket(r)
      if ((yield* this.faultsOf(t)).some((f) => f.component === component)) return t.id
    }
    return null
  }

  /** The latest repair of this component within the repeat-repair window before `atMs`, if any. */
  private *repeatOf(deviceId: string, component: string, atMs: number, except: string): Steps<RepeatOf | null> {
    const days = this.d.policy.repeatRepairDays
    if (days <= 0) return null
    const r = yield* first(this.s.lastRepair, { device: deviceId, component, since: atMs - days * DAY_MS, except })
    if (r === undefined) return null
    return {
      ticketId: r.ticket_id, outcome: r.outcome, resolvedAt: new Date(r.resolved_at_ms).toISOString(),
      daysSinceRepair: Math.max(0, Math.round(((atMs - r.resolved_at_ms) / DAY_MS) * 10) / 10),
    }
  }

  /** Every fault code on the ticket with its component, the opening fault first. */
  private *faultsOf(t: TicketRecord): Steps<Array<{ faultCode: string; component: string }>> {
    const out = [{ faultCode: t.fault.code, component: t.fault.component }]
    for (const r of yield* rows(this.s.ticketFaults, { ticket: t.id })) {
      if (!out.some((f) => f.faultCode === r.fault_code)) out.push({ faultCode: r.fault_code, component: r.component })
    }
    return out
  }

  private *saveTicket(t: TicketRecord, event: OutboxRow['event'], nowMs: number): Steps<void> {
    yield* change(this.s.updateTicket, { id: t.id, state: t.state, record: JSON.stringify(t) })
    yield* this.enqueue(t, event, nowMs)
  }

  /** The feed row plus one delivery job per configured adapter, in the caller's transaction. */
  private *enqueue(t: TicketRecord, event: OutboxRow['event'], nowMs: number): Steps<void> {
    yield* ops(this.d.dialect.outboxOrder)
    const payload = JSON.stringify(t)
    const at = new Date(nowMs).toISOString()
    for (const adapter of [FEED, ...this.d.adapters]) {
      yield* change(this.s.insertOutbox, { id: newOutboxId(), ticket: t.id, adapter, event, payload, nowMs, at })
    }
  }

  /** Run inside a write transaction. A resolution is recorded per fault code for precision, quiet periods and repeat repairs. */
  *transition(id: string, change_: TicketTransition): Steps<TicketChange> {
    const owner = yield* first(this.s.ticketOwner, { id })
    if (owner === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${id}`)
    yield* this.lockDevice(owner.device_id)
    const t = yield* this.getTicket(id)
    if (t === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${id}`)
    if (!ticketTransitions[t.state].includes(change_.state)) {
      throw new ForewarnError(ErrorCode.CONFLICT, `ticket ${id} cannot go from ${t.state} to ${change_.state}`)
    }
    if (change_.state === 'resolved' && change_.outcome === undefined) {
      throw new ForewarnError(ErrorCode.BAD_PAYLOAD, 'a resolved ticket needs an outcome')
    }
    const nowMs = this.d.now()
    const now = new Date(nowMs).toISOString()
    const next: TicketRecord = {
      ...t,
      state: change_.state,
      // A predicted failure already reached before this step is written down as the breakdown it became.
      sla: settleSla(t, nowMs),
      resolution: change_.state === 'resolved'
        ? { outcome: change_.outcome ?? 'repaired', partNumber: change_.partNumber ?? null, note: change_.note ?? null }
        : t.resolution,
      updatedAt: now,
    }
    yield* this.saveTicket(next, 'ticket.updated', nowMs)
    yield* appendHistory(this.h, t.deviceId, now, `ticket.${change_.state}`, {
      ticketId: id, from: t.state, to: change_.state, outcome: change_.outcome ?? null, partNumber: change_.partNumber ?? null, note: change_.note ?? null,
    })
    const faults = yield* this.faultsOf(next)
    if (change_.state === 'resolved' && change_.outcome !== undefined) {
      const model = (yield* first(this.s.deviceModel, { id: t.deviceId }))?.model ?? t.appliance.model
      for (const f of faults) {
        yield* change(this.s.insertOutcome, { ticket: id, fault: f.faultCode, device: t.deviceId, model, component: f.component, outcome: change_.outcome, atMs: nowMs })
      }
    }
    return {
      ticket: next, from: t.state, to: change_.state, outcome: change_.outcome ?? null,
      components: [...new Set(faults.map((f) => f.component))], atMs: nowMs,
    }
  }

  /** Ordered by fault code, then model, bytewise in both databases. */
  *precision(opts: { faultCode?: string | undefined; model?: string | undefined } = {}): Steps<PrecisionRow[]> {
    const found = yield* rows(this.s.precision, { fault: opts.faultCode ?? null, model: opts.model ?? null })
    const byte = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
    return found
      .map((r) => ({ faultCode: r.fault_code, model: r.model, confirmed: Number(r.confirmed), noFaultFound: Number(r.nff), declined: Number(r.declined) }))
      .sort((a, b) => byte(a.faultCode, b.faultCode) || byte(a.model, b.model))
      .map((r) => ({ ...r, precision: r.confirmed + r.noFaultFound === 0 ? null : r.confirmed / (r.confirmed + r.noFaultFound) }))
  }

  *listWarnings(opts: PageOptions & { deviceId?: string | undefined; state?: WarningState | undefined }): Steps<Page<StoredWarning>> {
    const limit = pageSize(opts.limit)
    const found = yield* rows(this.s.listWarnings, { after: decodeSeqCursor(opts.after), device: opts.deviceId ?? null, state: opts.state ?? null, limit: limit + 1 })
    return page(found, limit, toWarning)
  }

  *listTickets(opts: PageOptions & { deviceId?: string | undefined; state?: TicketState | undefined }): Steps<Page<TicketRecord>> {
    const limit = pageSize(opts.limit)
    const found = yield* rows(this.s.listTickets, { after: decodeSeqCursor(opts.after), device: opts.deviceId ?? null, state: opts.state ?? null, limit: limit + 1 })
    return page(found, limit, toTicket)
  }

  *listOutbox(opts: PageOptions & { ticketId?: string | undefined; adapter?: string | undefined }): Steps<Page<OutboxRow>> {
    const limit = pageSize(opts.limit)
    const found = yield* rows(this.s.listOutbox, { after: decodeSeqCursor(opts.after), ticket: opts.ticketId ?? null, adapter: opts.adapter ?? null, limit: limit + 1 })
    return page(found, limit, toOutbox)
  }
}

function page<R extends { n: number }, T>(found: R[], limit: number, map: (r: R) => T): Page<T> {
  const items = found.slice(0, limit)
  const last = items.at(-1)
  return { items: items.map(map), next: found.length > limit && last !== undefined ? encodeCursor(last.n) : null }
}

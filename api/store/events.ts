/**
 * Warnings, tickets and the outbox. A detector event, the ticket policy's decision, the outbox
 * row announcing it and the history entries are one transaction: after a crash either all of it
 * happened or none, and a replayed event is recognised and changes nothing.
 */
import type Libsql from 'libsql'
import { ErrorCode, ForewarnError, severityRank } from '../../domain/index.ts'
import type { Device, DetectorEvent, WarningState, TicketState } from '../../domain/index.ts'
import { buildTicket, escalateTicket, joinWarning, mergeTarget, opensTicket, ticketTransitions, type RepeatOf, type TicketPolicy } from '../ticket-policy.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import type { HistoryTable } from './history.ts'
import { FEED } from './outbox.ts'
import { newOutboxId, newTicketId } from './ids.ts'
import { toOutbox, toTicket, toWarning, type OutboxDbRow, type TicketRow, type WarningRow } from './rows.ts'
import type { ApplyResult, OutboxRow, Page, PageOptions, PrecisionRow, StoredWarning, TicketChange, TicketRecord, TicketTransition } from './types.ts'

export interface EventsDeps {
  db: Libsql.Database
  history: HistoryTable
  policy: TicketPolicy
  now: () => number
  publicUrl: () => string
  statusToken: (ticketId: string) => string
  getDevice: (id: string) => Device | null
  healthScore: (deviceId: string) => number | null
  /** Delivery adapters that get one outbox job per ticket change. */
  adapters: readonly string[]
}

const closedStates: readonly TicketState[] = ['resolved', 'cancelled']
const DAY_MS = 86_400_000

interface OutcomeRow { ticket_id: string; outcome: string; resolved_at_ms: number }

export class EventsTable {
  private readonly s

  constructor(private readonly d: EventsDeps) {
    const db = d.db
    this.s = {
      seen: db.prepare('SELECT 1 AS x FROM applied_events WHERE key = ?'),
      markSeen: db.prepare('INSERT INTO applied_events (key) VALUES (?)'),
      warning: db.prepare('SELECT * FROM warnings WHERE id = ?'),
      insertWarning: db.prepare(`INSERT INTO warnings (id, device_id, fault_code, component, severity, state, source, message, evidence, rul,
        event_time, detected_at, updated_at, cleared_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      escalate: db.prepare('UPDATE warnings SET severity = ?, message = ?, evidence = ?, rul = ?, updated_at = ? WHERE id = ?'),
      clear: db.prepare("UPDATE warnings SET state = 'cleared', cleared_at = ?, updated_at = ? WHERE id = ?"),
      linkTicket: db.prepare('UPDATE warnings SET ticket_id = ? WHERE id = ?'),
      listWarnings: db.prepare(`SELECT * FROM warnings WHERE n > :after AND (:device IS NULL OR device_id = :device)
        AND (:state IS NULL OR state = :state) ORDER BY n LIMIT :limit`),
      ticket: db.prepare('SELECT * FROM tickets WHERE id = ?'),
      openTickets: db.prepare("SELECT id, created_at_ms FROM tickets WHERE device_id = ? AND state NOT IN ('resolved', 'cancelled')"),
      insertTicket: db.prepare('INSERT INTO tickets (id, device_id, episode_id, state, created_at_ms, record) VALUES (?, ?, ?, ?, ?, ?)'),
      updateTicket: db.prepare('UPDATE tickets SET state = ?, record = ? WHERE id = ?'),
      listTickets: db.prepare(`SELECT * FROM tickets WHERE n > :after AND (:device IS NULL OR device_id = :device)
        AND (:state IS NULL OR state = :state) ORDER BY n LIMIT :limit`),
      insertOutbox: db.prepare('INSERT INTO outbox (id, ticket_id, adapter, event, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      listOutbox: db.prepare(`SELECT * FROM outbox WHERE n > :after AND (:ticket IS NULL OR ticket_id = :ticket)
        AND (:adapter IS NULL OR adapter = :adapter) ORDER BY n LIMIT :limit`),
      ticketFaults: db.prepare('SELECT DISTINCT fault_code, component FROM warnings WHERE ticket_id = ? ORDER BY n'),
      inRepair: db.prepare("SELECT id, record FROM tickets WHERE device_id = ? AND state = 'in_progress' ORDER BY n"),
      insertOutcome: db.prepare(`INSERT OR IGNORE INTO outcomes (ticket_id, fault_code, device_id, model, component, outcome, resolved_at_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      lastNoFault: db.prepare(`SELECT ticket_id, outcome, resolved_at_ms FROM outcomes WHERE device_id = ? AND fault_code = ?
        AND outcome = 'no_fault_found' AND resolved_at_ms >= ? ORDER BY resolved_at_ms DESC LIMIT 1`),
      lastRepair: db.prepare(`SELECT ticket_id, outcome, resolved_at_ms FROM outcomes WHERE device_id = ? AND component = ?
        AND outcome IN ('part_replaced', 'repaired') AND resolved_at_ms >= ? AND ticket_id != ? ORDER BY resolved_at_ms DESC LIMIT 1`),
      precision: db.prepare(`SELECT fault_code, model,
          sum(outcome IN ('part_replaced', 'repaired')) AS confirmed,
          sum(outcome = 'no_fault_found') AS nff,
          sum(outcome = 'customer_declined') AS declined
        FROM outcomes WHERE (:fault IS NULL OR fault_code = :fault) AND (:model IS NULL OR model = :model)
        GROUP BY fault_code, model ORDER BY fault_code, model`),
    }
  }

  getWarning(id: string): StoredWarning | null {
    const r = this.s.warning.get(id) as WarningRow | undefined
    return r === undefined ? null : toWarning(r)
  }

  getTicket(id: string): TicketRecord | null {
    const r = this.s.ticket.get(id) as TicketRow | undefined
    return r === undefined ? null : toTicket(r)
  }

  /** Run inside an immediate transaction (the caller's). */
  apply(ev: DetectorEvent, detectedAtMs: number): ApplyResult {
    const device = this.d.getDevice(ev.deviceId)
    if (device === null) throw new ForewarnError(ErrorCode.UNKNOWN_DEVICE, `unknown device ${ev.deviceId}`)
    const key = `${ev.episodeId}|${ev.kind}|${ev.severity}`
    const existing = this.getWarning(ev.episodeId)
    if (this.s.seen.get(key) !== undefined && existing !== null) {
      const ticket = existing.ticketId === null ? null : this.getTicket(existing.ticketId)
      return { warning: existing, ticket, created: false, applied: false, ticketCreated: false }
    }
    const nowMs = this.d.now()
    const nowIso = new Date(nowMs).toISOString()
    let created = false
    let changed = false
    const entry = { episodeId: ev.episodeId, faultCode: ev.faultCode, component: ev.component, severity: ev.severity, message: ev.message, eventTime: ev.eventTime }
    if (existing === null) {
      const state: WarningState = ev.kind === 'warning.cleared' ? 'cleared' : 'active'
      this.s.insertWarning.run(ev.episodeId, ev.deviceId, ev.faultCode, ev.component, ev.severity, state, ev.source, ev.message,
        JSON.stringify(ev.evidence), ev.rul === null ? null : JSON.stringify(ev.rul), ev.eventTime,
        new Date(detectedAtMs).toISOString(), nowIso, state === 'cleared' ? nowIso : null)
      this.d.history.append(ev.deviceId, nowIso, 'warning.raised', entry)
      if (state === 'cleared') this.d.history.append(ev.deviceId, nowIso, 'warning.cleared', entry)
      created = true
      changed = true
    } else if (ev.kind === 'warning.cleared') {
      if (existing.state === 'active') {
        this.s.clear.run(nowIso, nowIso, ev.episodeId)
        this.d.history.append(ev.deviceId, nowIso, 'warning.cleared', entry)
        changed = true
      }
    } else if (existing.state === 'active' && severityRank[ev.severity] > severityRank[existing.severity]) {
      this.s.escalate.run(ev.severity, ev.message, JSON.stringify(ev.evidence), ev.rul === null ? null : JSON.stringify(ev.rul), nowIso, ev.episodeId)
      this.d.history.append(ev.deviceId, nowIso, 'warning.escalated', { ...entry, from: existing.severity })
      changed = true
    }
    let ticketCreated = false
    const warning = this.getWarning(ev.episodeId) as StoredWarning
    if (changed && warning.state === 'active') {
      ticketCreated = this.applyPolicy(device, warning, ev, detectedAtMs, nowMs)
    }
    this.s.markSeen.run(key)
    const final = this.getWarning(ev.episodeId) as StoredWarning
    const ticket = final.ticketId === null ? null : this.getTicket(final.ticketId)
    return { warning: final, ticket, created, applied: true, ticketCreated }
  }

  /** Opens a ticket, joins an open one, or raises the priority of the one it already has. */
  private applyPolicy(device: Device, warning: StoredWarning, ev: DetectorEvent, detectedAtMs: number, nowMs: number): boolean {
    const p = this.d.policy
    const nowIso = new Date(nowMs).toISOString()
    const event: DetectorEvent = { ...ev, severity: warning.severity, evidence: warning.evidence, rul: warning.rul }
    if (warning.ticketId !== null) {
      const t = this.getTicket(warning.ticketId)
      if (t === null || closedStates.includes(t.state) || severityRank[event.severity] <= severityRank[t.fault.severity]) return false
      // Readings during the visit (parts out, power cut) say nothing about the fault: no new priority.
      if (t.state === 'in_progress') {
        this.d.history.append(device.id, nowIso, 'warning.held', { episodeId: warning.id, faultCode: warning.faultCode, component: warning.component, ticketId: t.id })
        return false
      }
      const next = escalateTicket(p, t, device, event, nowMs)
      this.saveTicket(next, 'ticket.updated', nowMs)
      this.d.history.append(device.id, nowIso, 'ticket.escalated', { ticketId: t.id, priority: next.priority, severity: event.severity, episodeId: warning.id })
      return false
    }
    if (!opensTicket(p, warning.severity, warning.source)) return false
    // The component is being repaired right now: its warnings are the repair's own noise.
    const repair = this.repairOf(device.id, warning.component)
    if (repair !== null) {
      this.d.history.append(device.id, nowIso, 'warning.held', { episodeId: warning.id, faultCode: warning.faultCode, component: warning.component, ticketId: repair })
      return false
    }
    // A technician found no fault recently: the same fault stays quiet, unless it turns critical
    // (a no-fault-found visit must not hide a failure that is now under way).
    const nff = warning.severity === 'critical' || p.noFaultFoundQuietDays <= 0 ? undefined
      : this.s.lastNoFault.get(device.id, warning.faultCode, detectedAtMs - p.noFaultFoundQuietDays * DAY_MS) as OutcomeRow | undefined
    if (nff !== undefined) {
      this.d.history.append(device.id, nowIso, 'warning.quieted', {
        episodeId: warning.id, faultCode: warning.faultCode, noFaultFoundTicketId: nff.ticket_id,
        quietUntil: new Date(nff.resolved_at_ms + p.noFaultFoundQuietDays * DAY_MS).toISOString(),
      })
      return false
    }
    const repeatOf = this.repeatOf(device.id, warning.component, detectedAtMs, '')
    const open = (this.s.openTickets.all(device.id) as Array<{ id: string; created_at_ms: number }>).map((r) => ({ id: r.id, createdAtMs: r.created_at_ms }))
    const target = mergeTarget(p, open, detectedAtMs)
    const existing = target === null ? null : this.getTicket(target.id)
    if (existing !== null) {
      let joined = joinWarning(p, existing, device, event, nowMs)
      if (!joined.repeatRepair && repeatOf !== null && repeatOf.ticketId !== joined.id) joined = { ...joined, repeatRepair: true, repeatOf }
      this.saveTicket(joined, 'ticket.updated', nowMs)
      this.s.linkTicket.run(joined.id, warning.id)
      this.d.history.append(device.id, nowIso, 'ticket.warning_joined', { ticketId: joined.id, episodeId: warning.id, faultCode: warning.faultCode, priority: joined.priority })
      return false
    }
    const id = newTicketId()
    const ticket = buildTicket(p, {
      id, device, event, detectedAtMs, nowMs, healthScore: this.d.healthScore(device.id), publicUrl: this.d.publicUrl(), repeatOf,
      statusToken: this.d.statusToken(id),
    })
    this.s.insertTicket.run(ticket.id, device.id, warning.id, ticket.state, nowMs, JSON.stringify(ticket))
    this.enqueue(ticket, 'ticket.created', nowMs)
    this.s.linkTicket.run(ticket.id, warning.id)
    this.d.history.append(device.id, nowIso, 'ticket.opened', {
      ticketId: ticket.id, episodeId: warning.id, faultCode: warning.faultCode, priority: ticket.priority, coverage: ticket.warranty.coverage,
      repeatRepair: ticket.repeatRepair, previousTicketId: repeatOf?.ticketId ?? null,
    })
    return true
  }

  /** The device's ticket in repair (in progress) that covers this component, if any. */
  private repairOf(deviceId: string, component: string): string | null {
    for (const r of this.s.inRepair.all(deviceId) as Array<{ id: string; record: string }>) {
      if (this.faultsOf(toTicket({ n: 0, id: r.id, state: 'in_progress', record: r.record, created_at_ms: 0 })).some((f) => f.component === component)) return r.id
    }
    return null
  }

  /** The latest repair of this component within the repeat-repair window before `atMs`, if any. */
  private repeatOf(deviceId: string, component: string, atMs: number, exceptTicket: string): RepeatOf | null {
    const days = this.d.policy.repeatRepairDays
    if (days <= 0) return null
    const r = this.s.lastRepair.get(deviceId, component, atMs - days * DAY_MS, exceptTicket) as OutcomeRow | undefined
    if (r === undefined) return null
    return {
      ticketId: r.ticket_id, outcome: r.outcome, resolvedAt: new Date(r.resolved_at_ms).toISOString(),
      daysSinceRepair: Math.max(0, Math.round(((atMs - r.resolved_at_ms) / DAY_MS) * 10) / 10),
    }
  }

  /** Every fault code on the ticket with its component, the opening fault first. */
  private faultsOf(t: TicketRecord): Array<{ faultCode: string; component: string }> {
    const out = [{ faultCode: t.fault.code, component: t.fault.component }]
    for (const r of this.s.ticketFaults.all(t.id) as Array<{ fault_code: string; component: string }>) {
      if (!out.some((f) => f.faultCode === r.fault_code)) out.push({ faultCode: r.fault_code, component: r.component })
    }
    return out
  }

  precision(opts: { faultCode?: string | undefined; model?: string | undefined } = {}): PrecisionRow[] {
    const rows = this.s.precision.all({ fault: opts.faultCode ?? null, model: opts.model ?? null }) as Array<{
      fault_code: string; model: string; confirmed: number; nff: number; declined: number
    }>
    return rows.map((r) => ({
      faultCode: r.fault_code, model: r.model, confirmed: r.confirmed, noFaultFound: r.nff, declined: r.declined,
      precision: r.confirmed + r.nff === 0 ? null : r.confirmed / (r.confirmed + r.nff),
    }))
  }

  private saveTicket(t: TicketRecord, event: OutboxRow['event'], nowMs: number): void {
    this.s.updateTicket.run(t.state, JSON.stringify(t), t.id)
    this.enqueue(t, event, nowMs)
  }

  /** The feed row plus one delivery job per configured adapter, in the caller's transaction. */
  private enqueue(t: TicketRecord, event: OutboxRow['event'], nowMs: number): void {
    const payload = JSON.stringify(t)
    const at = new Date(nowMs).toISOString()
    for (const adapter of [FEED, ...this.d.adapters]) this.s.insertOutbox.run(newOutboxId(), t.id, adapter, event, payload, nowMs, at)
  }

  /** Run inside a transaction. A resolution is recorded per fault code for precision, quiet periods and repeat repairs. */
  transition(id: string, change: TicketTransition): TicketChange {
    const t = this.getTicket(id)
    if (t === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${id}`)
    if (!ticketTransitions[t.state].includes(change.state)) {
      throw new ForewarnError(ErrorCode.CONFLICT, `ticket ${id} cannot go from ${t.state} to ${change.state}`)
    }
    if (change.state === 'resolved' && change.outcome === undefined) {
      throw new ForewarnError(ErrorCode.BAD_PAYLOAD, 'a resolved ticket needs an outcome')
    }
    const nowMs = this.d.now()
    const nowIso = new Date(nowMs).toISOString()
    const next: TicketRecord = {
      ...t,
      state: change.state,
      resolution: change.state === 'resolved'
        ? { outcome: change.outcome ?? 'repaired', partNumber: change.partNumber ?? null, note: change.note ?? null }
        : t.resolution,
      updatedAt: nowIso,
    }
    this.saveTicket(next, 'ticket.updated', nowMs)
    this.d.history.append(t.deviceId, nowIso, `ticket.${change.state}`, {
      ticketId: id, from: t.state, to: change.state, outcome: change.outcome ?? null, partNumber: change.partNumber ?? null, note: change.note ?? null,
    })
    const faults = this.faultsOf(next)
    if (change.state === 'resolved' && change.outcome !== undefined) {
      const model = this.d.getDevice(t.deviceId)?.model ?? t.appliance.model
      for (const f of faults) this.s.insertOutcome.run(id, f.faultCode, t.deviceId, model, f.component, change.outcome, nowMs)
    }
    return {
      ticket: next, from: t.state, to: change.state, outcome: change.outcome ?? null,
      components: [...new Set(faults.map((f) => f.component))], atMs: nowMs,
    }
  }

  listWarnings(opts: PageOptions & { deviceId?: string | undefined; state?: WarningState | undefined }): Page<StoredWarning> {
    const limit = pageSize(opts.limit)
    const rows = this.s.listWarnings.all({ after: decodeSeqCursor(opts.after), device: opts.deviceId ?? null, state: opts.state ?? null, limit: limit + 1 }) as WarningRow[]
    return page(rows, limit, toWarning)
  }

  listTickets(opts: PageOptions & { deviceId?: string | undefined; state?: TicketState | undefined }): Page<TicketRecord> {
    const limit = pageSize(opts.limit)
    const rows = this.s.listTickets.all({ after: decodeSeqCursor(opts.after), device: opts.deviceId ?? null, state: opts.state ?? null, limit: limit + 1 }) as TicketRow[]
    return page(rows, limit, toTicket)
  }

  listOutbox(opts: PageOptions & { ticketId?: string | undefined; adapter?: string | undefined }): Page<OutboxRow> {
    const limit = pageSize(opts.limit)
    const rows = this.s.listOutbox.all({
      after: decodeSeqCursor(opts.after), ticket: opts.ticketId ?? null, adapter: opts.adapter ?? null, limit: limit + 1,
    }) as OutboxDbRow[]
    return page(rows, limit, toOutbox)
  }
}

function page<R extends { n: number }, T>(rows: R[], limit: number, map: (r: R) => T): Page<T> {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items: items.map(map), next: rows.length > limit && last !== undefined ? encodeCursor(last.n) : null }
}

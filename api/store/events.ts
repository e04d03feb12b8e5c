/**
 * Warnings, tickets and the outbox. A detector event, the ticket policy's decision, the outbox
 * row announcing it and the history entries are one transaction: after a crash either all of it
 * happened or none, and a replayed event is recognised and changes nothing.
 */
import type Libsql from 'libsql'
import { ErrorCode, ForewarnError, severityRank } from '../../domain/index.ts'
import type { Device, DetectorEvent, WarningState, TicketState } from '../../domain/index.ts'
import { buildTicket, escalateTicket, joinWarning, mergeTarget, opensTicket, ticketTransitions, type TicketPolicy } from '../ticket-policy.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import type { HistoryTable } from './history.ts'
import { FEED } from './outbox.ts'
import { newOutboxId, newTicketId } from './ids.ts'
import { toOutbox, toTicket, toWarning, type OutboxDbRow, type TicketRow, type WarningRow } from './rows.ts'
import type { ApplyResult, OutboxRow, Page, PageOptions, StoredWarning, TicketRecord, TicketTransition } from './types.ts'

export interface EventsDeps {
  db: Libsql.Database
  history: HistoryTable
  policy: TicketPolicy
  now: () => number
  publicUrl: () => string
  getDevice: (id: string) => Device | null
  healthScore: (deviceId: string) => number | null
  /** Delivery adapters that get one outbox job per ticket change. */
  adapters: readonly string[]
}

const closedStates: readonly TicketState[] = ['resolved', 'cancelled']

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
      const next = escalateTicket(p, t, device, event, nowMs)
      this.saveTicket(next, 'ticket.updated', nowMs)
      this.d.history.append(device.id, nowIso, 'ticket.escalated', { ticketId: t.id, priority: next.priority, severity: event.severity, episodeId: warning.id })
      return false
    }
    if (!opensTicket(p, warning.severity, warning.source)) return false
    const open = (this.s.openTickets.all(device.id) as Array<{ id: string; created_at_ms: number }>).map((r) => ({ id: r.id, createdAtMs: r.created_at_ms }))
    const target = mergeTarget(p, open, detectedAtMs)
    const existing = target === null ? null : this.getTicket(target.id)
    if (existing !== null) {
      const joined = joinWarning(p, existing, device, event, nowMs)
      this.saveTicket(joined, 'ticket.updated', nowMs)
      this.s.linkTicket.run(joined.id, warning.id)
      this.d.history.append(device.id, nowIso, 'ticket.warning_joined', { ticketId: joined.id, episodeId: warning.id, faultCode: warning.faultCode, priority: joined.priority })
      return false
    }
    const ticket = buildTicket(p, {
      id: newTicketId(), device, event, detectedAtMs, nowMs, healthScore: this.d.healthScore(device.id), publicUrl: this.d.publicUrl(),
    })
    this.s.insertTicket.run(ticket.id, device.id, warning.id, ticket.state, nowMs, JSON.stringify(ticket))
    this.enqueue(ticket, 'ticket.created', nowMs)
    this.s.linkTicket.run(ticket.id, warning.id)
    this.d.history.append(device.id, nowIso, 'ticket.opened', {
      ticketId: ticket.id, episodeId: warning.id, faultCode: warning.faultCode, priority: ticket.priority, coverage: ticket.warranty.coverage,
    })
    return true
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

  /** Run inside a transaction. */
  transition(id: string, change: TicketTransition): TicketRecord {
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
    return next
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

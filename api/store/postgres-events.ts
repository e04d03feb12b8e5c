/**
 * Warnings, tickets and the outbox on PostgreSQL: the same steps as ./events.ts (the embedded
 * store), on an async client. The decisions (open, join, escalate, build the ticket, allowed
 * transitions) are the pure functions of ../ticket-policy.ts, shared by both stores; what is
 * repeated here is only the order of reads and writes around them, because events.ts is written
 * against libsql's synchronous statements.
 *
 * Concurrency: every writer first locks the device row (`FOR UPDATE`), so events, transitions and
 * history appends of one device are serialised and a replay that waited for the lock sees the
 * first call's `applied_events` row. Writers of outbox rows then take one transaction-scoped
 * advisory lock, so outbox sequence numbers are handed out in commit order and a reader paging the
 * feed by `n` never skips a row that commits later with a smaller number. Lock order is always
 * device row, then the outbox lock: no deadlock.
 */
import type pg from 'pg'
import { ErrorCode, ForewarnError, severityRank } from '../../domain/index.ts'
import type { Device, DetectorEvent, HealthCore, TicketState, WarningState } from '../../domain/index.ts'
import { buildTicket, escalateTicket, joinWarning, mergeTarget, opensTicket, ticketTransitions, type RepeatOf, type TicketPolicy } from '../ticket-policy.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import { newOutboxId, newTicketId } from './ids.ts'
import { FEED } from './outbox.ts'
import { appendHistory } from './postgres-history.ts'
import { toDevice, toOutbox, toTicket, toWarning, type DeviceRow, type OutboxDbRow, type TicketRow, type WarningRow } from './rows.ts'
import type { ApplyResult, OutboxRow, Page, PageOptions, PrecisionRow, StoredWarning, TicketChange, TicketRecord, TicketTransition } from './types.ts'

type Db = pg.ClientBase | pg.Pool

export interface PgEventsDeps {
  policy: TicketPolicy
  now: () => number
  publicUrl: () => string
  statusToken: (ticketId: string) => string
  adapters: readonly string[]
}

/** Arbitrary constant: the advisory lock that orders outbox inserts (see above). */
const OUTBOX_LOCK = 0x6f757478

const closedStates: readonly TicketState[] = ['resolved', 'cancelled']
const DAY_MS = 86_400_000

interface OutcomeRow { ticket_id: string; outcome: string; resolved_at_ms: number }

/** Locks the device row for the rest of the transaction; null when there is no such device. */
export async function lockDevice(c: pg.ClientBase, id: string): Promise<Device | null> {
  const r = await c.query<DeviceRow>('SELECT * FROM devices WHERE id = $1 FOR UPDATE', [id])
  const row = r.rows[0]
  return row === undefined ? null : toDevice(row)
}

export async function getWarning(c: Db, id: string): Promise<StoredWarning | null> {
  const r = await c.query<WarningRow>('SELECT * FROM warnings WHERE id = $1', [id])
  const row = r.rows[0]
  return row === undefined ? null : toWarning(row)
}

export async function getTicket(c: Db, id: string): Promise<TicketRecord | null> {
  const r = await c.query<TicketRow>('SELECT * FROM tickets WHERE id = $1', [id])
  const row = r.rows[0]
  return row === undefined ? null : toTicket(row)
}

export class PgEvents {
  constructor(private readonly d: PgEventsDeps) {}

  /** Run inside a transaction (the caller's). */
  async apply(c: pg.ClientBase, ev: DetectorEvent, detectedAtMs: number): Promise<ApplyResult> {
    const device = await lockDevice(c, ev.deviceId)
    if (device === null) throw new ForewarnError(ErrorCode.UNKNOWN_DEVICE, `unknown device ${ev.deviceId}`)
    const key = `${ev.episodeId}|${ev.kind}|${ev.severity}`
    const existing = await getWarning(c, ev.episodeId)
    const seen = (await c.query('SELECT 1 FROM applied_events WHERE key = $1', [key])).rowCount === 1
    if (seen && existing !== null) {
      const ticket = existing.ticketId === null ? null : await getTicket(c, existing.ticketId)
      return { warning: existing, ticket, created: false, applied: false, ticketCreated: false }
    }
    const nowMs = this.d.now()
    const nowIso = new Date(nowMs).toISOString()
    let created = false
    let changed = false
    const entry = { episodeId: ev.episodeId, faultCode: ev.faultCode, component: ev.component, severity: ev.severity, message: ev.message, eventTime: ev.eventTime }
    const rul = ev.rul === null ? null : JSON.stringify(ev.rul)
    if (existing === null) {
      const state: WarningState = ev.kind === 'warning.cleared' ? 'cleared' : 'active'
      await c.query(`INSERT INTO warnings (id, device_id, fault_code, component, severity, state, source, message, evidence, rul,
        event_time, detected_at, updated_at, cleared_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [ev.episodeId, ev.deviceId, ev.faultCode, ev.component, ev.severity, state, ev.source, ev.message, JSON.stringify(ev.evidence), rul,
        ev.eventTime, new Date(detectedAtMs).toISOString(), nowIso, state === 'cleared' ? nowIso : null])
      await appendHistory(c, ev.deviceId, nowIso, 'warning.raised', entry)
      if (state === 'cleared') await appendHistory(c, ev.deviceId, nowIso, 'warning.cleared', entry)
      created = true
      changed = true
    } else if (ev.kind === 'warning.cleared') {
      if (existing.state === 'active') {
        await c.query("UPDATE warnings SET state = 'cleared', cleared_at = $1, updated_at = $1 WHERE id = $2", [nowIso, ev.episodeId])
        await appendHistory(c, ev.deviceId, nowIso, 'warning.cleared', entry)
        changed = true
      }
    } else if (existing.state === 'active' && severityRank[ev.severity] > severityRank[existing.severity]) {
      await c.query('UPDATE warnings SET severity = $1, message = $2, evidence = $3, rul = $4, updated_at = $5 WHERE id = $6',
        [ev.severity, ev.message, JSON.stringify(ev.evidence), rul, nowIso, ev.episodeId])
      await appendHistory(c, ev.deviceId, nowIso, 'warning.escalated', { ...entry, from: existing.severity })
      changed = true
    }
    let ticketCreated = false
    const warning = (await getWarning(c, ev.episodeId)) as StoredWarning
    if (changed && warning.state === 'active') ticketCreated = await this.applyPolicy(c, device, warning, ev, detectedAtMs, nowMs)
    await c.query('INSERT INTO applied_events (key) VALUES ($1) ON CONFLICT DO NOTHING', [key])
    const final = (await getWarning(c, ev.episodeId)) as StoredWarning
    const ticket = final.ticketId === null ? null : await getTicket(c, final.ticketId)
    return { warning: final, ticket, created, applied: true, ticketCreated }
  }

  /** Opens a ticket, joins an open one, or raises the priority of the one it already has. */
  private async applyPolicy(c: pg.ClientBase, device: Device, warning: StoredWarning, ev: DetectorEvent, detectedAtMs: number, nowMs: number): Promise<boolean> {
    const p = this.d.policy
    const nowIso = new Date(nowMs).toISOString()
    const event: DetectorEvent = { ...ev, severity: warning.severity, evidence: warning.evidence, rul: warning.rul }
    if (warning.ticketId !== null) {
      const t = await getTicket(c, warning.ticketId)
      if (t === null || closedStates.includes(t.state) || severityRank[event.severity] <= severityRank[t.fault.severity]) return false
      // Readings during the visit (parts out, power cut) say nothing about the fault: no new priority.
      if (t.state === 'in_progress') {
        await appendHistory(c, device.id, nowIso, 'warning.held', { episodeId: warning.id, faultCode: warning.faultCode, component: warning.component, ticketId: t.id })
        return false
      }
      const next = escalateTicket(p, t, device, event, nowMs)
      await this.saveTicket(c, next, 'ticket.updated', nowMs)
      await appendHistory(c, device.id, nowIso, 'ticket.escalated', { ticketId: t.id, priority: next.priority, severity: event.severity, episodeId: warning.id })
      return false
    }
    if (!opensTicket(p, warning.severity, warning.source)) return false
    // The component is being repaired right now: its warnings are the repair's own noise.
    const repair = await this.repairOf(c, device.id, warning.component)
    if (repair !== null) {
      await appendHistory(c, device.id, nowIso, 'warning.held', { episodeId: warning.id, faultCode: warning.faultCode, component: warning.component, ticketId: repair })
      return false
    }
    // A technician found no fault recently: the same fault stays quiet, unless it turns critical.
    const nff = warning.severity === 'critical' ? undefined : (await c.query<OutcomeRow>(
      `SELECT ticket_id, outcome, resolved_at_ms FROM outcomes WHERE device_id = $1 AND fault_code = $2
        AND outcome = 'no_fault_found' AND resolved_at_ms >= $3 ORDER BY resolved_at_ms DESC LIMIT 1`,
      [device.id, warning.faultCode, detectedAtMs - p.noFaultFoundQuietDays * DAY_MS])).rows[0]
    if (nff !== undefined) {
      await appendHistory(c, device.id, nowIso, 'warning.quieted', {
        episodeId: warning.id, faultCode: warning.faultCode, noFaultFoundTicketId: nff.ticket_id,
        quietUntil: new Date(nff.resolved_at_ms + p.noFaultFoundQuietDays * DAY_MS).toISOString(),
      })
      return false
    }
    const repeatOf = await this.repeatOf(c, device.id, warning.component, detectedAtMs, '')
    const open = (await c.query<{ id: string; created_at_ms: number }>(
      "SELECT id, created_at_ms FROM tickets WHERE device_id = $1 AND state NOT IN ('resolved', 'cancelled') ORDER BY n", [device.id],
    )).rows.map((r) => ({ id: r.id, createdAtMs: r.created_at_ms }))
    const target = mergeTarget(p, open, detectedAtMs)
    const existing = target === null ? null : await getTicket(c, target.id)
    if (existing !== null) {
      let joined = joinWarning(p, existing, device, event, nowMs)
      if (!joined.repeatRepair && repeatOf !== null && repeatOf.ticketId !== joined.id) joined = { ...joined, repeatRepair: true, repeatOf }
      await this.saveTicket(c, joined, 'ticket.updated', nowMs)
      await c.query('UPDATE warnings SET ticket_id = $1 WHERE id = $2', [joined.id, warning.id])
      await appendHistory(c, device.id, nowIso, 'ticket.warning_joined', { ticketId: joined.id, episodeId: warning.id, faultCode: warning.faultCode, priority: joined.priority })
      return false
    }
    const health = (await c.query<{ core: string }>('SELECT core FROM health WHERE device_id = $1', [device.id])).rows[0]
    const id = newTicketId()
    const ticket = buildTicket(p, {
      id, device, event, detectedAtMs, nowMs, statusToken: this.d.statusToken(id),
      healthScore: health === undefined ? null : (JSON.parse(health.core) as HealthCore).overall,
      publicUrl: this.d.publicUrl(), repeatOf,
    })
    await c.query('INSERT INTO tickets (id, device_id, episode_id, state, created_at_ms, record) VALUES ($1, $2, $3, $4, $5, $6)',
      [ticket.id, device.id, warning.id, ticket.state, nowMs, JSON.stringify(ticket)])
    await this.enqueue(c, ticket, 'ticket.created', nowMs)
    await c.query('UPDATE warnings SET ticket_id = $1 WHERE id = $2', [ticket.id, warning.id])
    await appendHistory(c, device.id, nowIso, 'ticket.opened', {
      ticketId: ticket.id, episodeId: warning.id, faultCode: warning.faultCode, priority: ticket.priority, coverage: ticket.warranty.coverage,
      repeatRepair: ticket.repeatRepair, previousTicketId: repeatOf?.ticketId ?? null,
    })
    return true
  }

  /** The device's ticket in repair (in progress) that covers this component, if any. */
  private async repairOf(c: pg.ClientBase, deviceId: string, component: string): Promise<string | null> {
    const { rows } = await c.query<TicketRow>("SELECT * FROM tickets WHERE device_id = $1 AND state = 'in_progress' ORDER BY n", [deviceId])
    for (const r of rows) if ((await faultsOf(c, toTicket(r))).some((f) => f.component === component)) return r.id
    return null
  }

  /** The latest repair of this component within the repeat-repair window before `atMs`, if any. */
  private async repeatOf(c: pg.ClientBase, deviceId: string, component: string, atMs: number, exceptTicket: string): Promise<RepeatOf | null> {
    const days = this.d.policy.repeatRepairDays
    if (days <= 0) return null
    const r = (await c.query<OutcomeRow>(`SELECT ticket_id, outcome, resolved_at_ms FROM outcomes WHERE device_id = $1 AND component = $2
      AND outcome IN ('part_replaced', 'repaired') AND resolved_at_ms >= $3 AND ticket_id <> $4 ORDER BY resolved_at_ms DESC LIMIT 1`,
    [deviceId, component, atMs - days * DAY_MS, exceptTicket])).rows[0]
    if (r === undefined) return null
    return {
      ticketId: r.ticket_id, outcome: r.outcome, resolvedAt: new Date(r.resolved_at_ms).toISOString(),
      daysSinceRepair: Math.max(0, Math.round(((atMs - r.resolved_at_ms) / DAY_MS) * 10) / 10),
    }
  }

  private async saveTicket(c: pg.ClientBase, t: TicketRecord, event: OutboxRow['event'], nowMs: number): Promise<void> {
    await c.query('UPDATE tickets SET state = $1, record = $2 WHERE id = $3', [t.state, JSON.stringify(t), t.id])
    await this.enqueue(c, t, event, nowMs)
  }

  /** The feed row plus one delivery job per configured adapter, in the caller's transaction. */
  private async enqueue(c: pg.ClientBase, t: TicketRecord, event: OutboxRow['event'], nowMs: number): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock($1)', [OUTBOX_LOCK])
    const payload = JSON.stringify(t)
    const at = new Date(nowMs).toISOString()
    for (const adapter of [FEED, ...this.d.adapters]) {
      await c.query('INSERT INTO outbox (id, ticket_id, adapter, event, payload, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [newOutboxId(), t.id, adapter, event, payload, nowMs, at])
    }
  }

  /** Run inside a transaction. A resolution is recorded per fault code for precision, quiet periods and repeat repairs. */
  async transition(c: pg.ClientBase, id: string, change: TicketTransition): Promise<TicketChange> {
    const owner = (await c.query<{ device_id: string }>('SELECT device_id FROM tickets WHERE id = $1', [id])).rows[0]
    if (owner === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${id}`)
    await lockDevice(c, owner.device_id)
    const t = await getTicket(c, id)
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
    await this.saveTicket(c, next, 'ticket.updated', nowMs)
    await appendHistory(c, t.deviceId, nowIso, `ticket.${change.state}`, {
      ticketId: id, from: t.state, to: change.state, outcome: change.outcome ?? null, partNumber: change.partNumber ?? null, note: change.note ?? null,
    })
    const faults = await faultsOf(c, next)
    if (change.state === 'resolved' && change.outcome !== undefined) {
      const model = (await c.query<{ model: string }>('SELECT model FROM devices WHERE id = $1', [t.deviceId])).rows[0]?.model ?? t.appliance.model
      for (const f of faults) {
        await c.query(`INSERT INTO outcomes (ticket_id, fault_code, device_id, model, component, outcome, resolved_at_ms)
          VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, [id, f.faultCode, t.deviceId, model, f.component, change.outcome, nowMs])
      }
    }
    return {
      ticket: next, from: t.state, to: change.state, outcome: change.outcome ?? null,
      components: [...new Set(faults.map((f) => f.component))], atMs: nowMs,
    }
  }
}

/** Every fault code on the ticket with its component, the opening fault first. */
async function faultsOf(c: Db, t: TicketRecord): Promise<Array<{ faultCode: string; component: string }>> {
  const out = [{ faultCode: t.fault.code, component: t.fault.component }]
  // DISTINCT ON keeps each pair's first warning, so the order is that of the warnings (as in SQLite).
  const { rows } = await c.query<{ fault_code: string; component: string }>(`SELECT fault_code, component FROM (
      SELECT DISTINCT ON (fault_code, component) fault_code, component, n FROM warnings WHERE ticket_id = $1 ORDER BY fault_code, component, n
    ) f ORDER BY n`, [t.id])
  for (const r of rows) if (!out.some((f) => f.faultCode === r.fault_code)) out.push({ faultCode: r.fault_code, component: r.component })
  return out
}

/** Repair outcomes per fault code and model. */
export async function precision(c: Db, opts: { faultCode?: string | undefined; model?: string | undefined } = {}): Promise<PrecisionRow[]> {
  const { rows } = await c.query<{ fault_code: string; model: string; confirmed: number; nff: number; declined: number }>(`SELECT fault_code, model,
      count(*) FILTER (WHERE outcome IN ('part_replaced', 'repaired')) AS confirmed,
      count(*) FILTER (WHERE outcome = 'no_fault_found') AS nff,
      count(*) FILTER (WHERE outcome = 'customer_declined') AS declined
    FROM outcomes WHERE ($1::text IS NULL OR fault_code = $1) AND ($2::text IS NULL OR model = $2)
    GROUP BY fault_code, model ORDER BY fault_code COLLATE "C", model COLLATE "C"`, [opts.faultCode ?? null, opts.model ?? null])
  return rows.map((r) => ({
    faultCode: r.fault_code, model: r.model, confirmed: r.confirmed, noFaultFound: r.nff, declined: r.declined,
    precision: r.confirmed + r.nff === 0 ? null : r.confirmed / (r.confirmed + r.nff),
  }))
}

export async function listWarnings(c: Db, opts: PageOptions & { deviceId?: string | undefined; state?: WarningState | undefined }): Promise<Page<StoredWarning>> {
  const limit = pageSize(opts.limit)
  const { rows } = await c.query<WarningRow>(`SELECT * FROM warnings WHERE n > $1 AND ($2::text IS NULL OR device_id = $2)
    AND ($3::text IS NULL OR state = $3) ORDER BY n LIMIT $4`, [decodeSeqCursor(opts.after), opts.deviceId ?? null, opts.state ?? null, limit + 1])
  return page(rows, limit, toWarning)
}

export async function listTickets(c: Db, opts: PageOptions & { deviceId?: string | undefined; state?: TicketState | undefined }): Promise<Page<TicketRecord>> {
  const limit = pageSize(opts.limit)
  const { rows } = await c.query<TicketRow>(`SELECT * FROM tickets WHERE n > $1 AND ($2::text IS NULL OR device_id = $2)
    AND ($3::text IS NULL OR state = $3) ORDER BY n LIMIT $4`, [decodeSeqCursor(opts.after), opts.deviceId ?? null, opts.state ?? null, limit + 1])
  return page(rows, limit, toTicket)
}

export async function listOutbox(c: Db, opts: PageOptions & { ticketId?: string | undefined; adapter?: string | undefined }): Promise<Page<OutboxRow>> {
  const limit = pageSize(opts.limit)
  const { rows } = await c.query<OutboxDbRow>(`SELECT * FROM outbox WHERE n > $1 AND ($2::text IS NULL OR ticket_id = $2)
    AND ($3::text IS NULL OR adapter = $3) ORDER BY n LIMIT $4`, [decodeSeqCursor(opts.after), opts.ticketId ?? null, opts.adapter ?? null, limit + 1])
  return page(rows, limit, toOutbox)
}

function page<R extends { n: number }, T>(rows: R[], limit: number, map: (r: R) => T): Page<T> {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items: items.map(map), next: rows.length > limit && last !== undefined ? encodeCursor(last.n) : null }
}

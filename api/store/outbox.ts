/**
 * The outbox table as the delivery worker's port (api/delivery/types.ts OutboxPort), with the
 * semantics of the reference in-memory outbox. Every ticket change writes one `feed` row (the
 * pull feed reads those) plus one job per configured delivery adapter, in the ticket's transaction.
 *
 * Several workers (processes) may share the table: a claim selects and leases its jobs in one write
 * transaction. On PostgreSQL the selected rows are locked `FOR UPDATE SKIP LOCKED`, so concurrent
 * claims neither wait for each other nor take the same job; SQLite's write transaction excludes the
 * other claims outright.
 */
import { sql, type Selectable } from 'kysely'
import type { DeadJob, OutboxJob } from '../delivery/types.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import type { Dialect } from './dialect.ts'
import { change, prepare, rows, single, write, type Work } from './run.ts'
import type { Database } from './schema.ts'
import type { TicketRecord } from './types.ts'

/** Adapter name of the rows the pull feed serves; never claimed by a worker. */
export const FEED = 'feed'

type JobRow = Selectable<Database['outbox']>

const toJob = (r: JobRow): OutboxJob => ({
  id: r.id, ticketId: r.ticket_id, adapter: r.adapter, attempts: r.attempts,
  event: r.event as OutboxJob['event'], payload: JSON.parse(r.payload) as TicketRecord,
})

function statements(d: Dialect) {
  const db = d.db
  return {
    // A due job waits while an older pending job of its ticket and adapter is not due (waiting for
    // its retry, or leased by another worker): an update never overtakes the create it follows.
    // 'pending' and 'feed' are literals so the partial index outbox_pending_jobs (migration 2) applies.
    due: prepare((p: { now: number; limit: number }) => d.lock(db.selectFrom('outbox as o').selectAll('o')
      .where('o.state', '=', sql.lit('pending')).where('o.adapter', '!=', sql.lit(FEED)).where('o.next_attempt_at', '<=', p.now)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('outbox as w').select('w.n')
        .whereRef('w.ticket_id', '=', 'o.ticket_id').whereRef('w.adapter', '=', 'o.adapter').whereRef('w.n', '<', 'o.n')
        .where('w.state', '=', 'pending').where('w.next_attempt_at', '>', p.now))))
      .orderBy('o.n').limit(p.limit), 'update skip locked')),
    lease: prepare((p: { id: string; until: number }) => db.updateTable('outbox').set({ next_attempt_at: p.until }).where('id', '=', p.id)),
    delivered: prepare((p: { id: string; ref: string | null; at: string }) =>
      db.updateTable('outbox').set({ state: 'delivered', external_ref: p.ref, delivered_at: p.at }).where('id', '=', p.id)),
    retry: prepare((p: { id: string; attempts: number; next: number; error: string }) => db.updateTable('outbox')
      .set({ attempts: p.attempts, next_attempt_at: p.next, last_error: p.error }).where('id', '=', p.id).where('state', '=', 'pending')),
    dead: prepare((p: { id: string; attempts: number; error: string }) =>
      db.updateTable('outbox').set({ state: 'dead', attempts: p.attempts, last_error: p.error }).where('id', '=', p.id)),
    listDead: prepare((p: { after: number; limit: number }) =>
      db.selectFrom('outbox').selectAll().where('state', '=', 'dead').where('n', '>', p.after).orderBy('n').limit(p.limit)),
    replay: prepare((p: { id: string }) =>
      db.updateTable('outbox').set({ state: 'pending', attempts: 0, next_attempt_at: 0 }).where('id', '=', p.id).where('state', '=', 'dead')),
  }
}

/** The port's operations, for a runner to turn into the synchronous or the asynchronous port. */
export interface OutboxWork {
  claimDue(nowMs: number, limit: number): Work<OutboxJob[]>
  markDelivered(jobId: string, externalRef: string | null, nowMs: number): Work<void>
  markRetry(jobId: string, attempts: number, nextAttemptAtMs: number, error: string): Work<void>
  markDead(jobId: string, attempts: number, error: string): Work<void>
  listDead(limit: number, after?: string): Work<{ items: DeadJob[]; next: string | null }>
  replayDead(jobId: string): Work<boolean>
}

export function outboxWork(d: Dialect, opts: { leaseMs?: number | undefined } = {}): OutboxWork {
  const s = statements(d)
  const leaseMs = opts.leaseMs ?? 30_000
  return {
    claimDue: (nowMs, limit) => write(function* () {
      const due = yield* rows(s.due, { now: nowMs, limit: Math.max(0, Math.trunc(limit)) })
      if (leaseMs > 0) for (const r of due) yield* change(s.lease, { id: r.id, until: nowMs + leaseMs })
      return due.map(toJob)
    }),
    markDelivered: (id, ref, nowMs) => single(function* () { yield* change(s.delivered, { id, ref, at: new Date(nowMs).toISOString() }) }),
    markRetry: (id, attempts, next, error) => single(function* () { yield* change(s.retry, { id, attempts, next, error }) }),
    markDead: (id, attempts, error) => single(function* () { yield* change(s.dead, { id, attempts, error }) }),
    listDead: (limit, after) => single(function* () {
      const size = pageSize(limit)
      const found = yield* rows(s.listDead, { after: decodeSeqCursor(after), limit: size + 1 })
      const page = found.slice(0, size)
      const items: DeadJob[] = page.map((r) => ({ ...toJob(r), lastError: r.last_error ?? '' }))
      const last = page.at(-1)
      return { items, next: found.length > size && last !== undefined ? encodeCursor(last.n) : null }
    }),
    replayDead: (id) => single(function* () { return (yield* change(s.replay, { id })) > 0 }),
  }
}

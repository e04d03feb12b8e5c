/**
 * The outbox table as the delivery worker's port (api/delivery/types.ts OutboxPort), with the
 * semantics of the reference in-memory outbox. Every ticket change writes one `feed` row (the
 * pull feed reads those) plus one job per configured delivery adapter, in the ticket's transaction.
 */
import type Libsql from 'libsql'
import type { DeadJob, OutboxJob, OutboxPort } from '../delivery/types.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import type { TicketRecord } from './types.ts'

/** Adapter name of the rows the pull feed serves; never claimed by a worker. */
export const FEED = 'feed'

interface JobRow { n: number; id: string; ticket_id: string; adapter: string; attempts: number; event: string; payload: string; last_error: string | null }

const toJob = (r: JobRow): OutboxJob => ({
  id: r.id, ticketId: r.ticket_id, adapter: r.adapter, attempts: r.attempts,
  event: r.event as OutboxJob['event'], payload: JSON.parse(r.payload) as TicketRecord,
})

export function sqliteOutboxPort(db: Libsql.Database, opts: { leaseMs?: number } = {}): OutboxPort {
  const leaseMs = opts.leaseMs ?? 30_000
  const s = {
    // A due job waits while an older pending job of its ticket and adapter is not due (waiting for
    // its retry, or leased by another worker): an update never overtakes the create it follows.
    // The literal 'feed' (= FEED) lets SQLite use the partial index outbox_pending_jobs (migration 4).
    due: db.prepare(`SELECT * FROM outbox o INDEXED BY outbox_pending_jobs WHERE o.state = 'pending' AND o.adapter != 'feed' AND o.next_attempt_at <= :now
      AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.ticket_id = o.ticket_id AND p.adapter = o.adapter AND p.n < o.n
        AND p.state = 'pending' AND p.next_attempt_at > :now)
      ORDER BY o.n LIMIT :limit`),
    lease: db.prepare('UPDATE outbox SET next_attempt_at = ? WHERE id = ?'),
    delivered: db.prepare("UPDATE outbox SET state = 'delivered', external_ref = ?, delivered_at = ? WHERE id = ?"),
    retry: db.prepare("UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND state = 'pending'"),
    dead: db.prepare("UPDATE outbox SET state = 'dead', attempts = ?, last_error = ? WHERE id = ?"),
    listDead: db.prepare("SELECT * FROM outbox WHERE state = 'dead' AND n > ? ORDER BY n LIMIT ?"),
    replay: db.prepare("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = 0 WHERE id = ? AND state = 'dead'"),
  }
  // Claiming and leasing in one immediate transaction keeps a second worker (process) off the job.
  const claim = db.transaction((nowMs: number, limit: number): OutboxJob[] => {
    const rows = s.due.all({ now: nowMs, limit }) as JobRow[]
    if (leaseMs > 0) for (const r of rows) s.lease.run(nowMs + leaseMs, r.id)
    return rows.map(toJob)
  })
  return {
    claimDue: (nowMs, limit) => claim.immediate(nowMs, limit),
    markDelivered: (jobId, externalRef, nowMs) => { s.delivered.run(externalRef, new Date(nowMs).toISOString(), jobId) },
    markRetry: (jobId, attempts, nextAttemptAtMs, error) => { s.retry.run(attempts, nextAttemptAtMs, error, jobId) },
    markDead: (jobId, attempts, error) => { s.dead.run(attempts, error, jobId) },
    listDead(limit, after) {
      const size = pageSize(limit)
      const rows = s.listDead.all(decodeSeqCursor(after), size + 1) as JobRow[]
      const page = rows.slice(0, size)
      const items: DeadJob[] = page.map((r) => ({ ...toJob(r), lastError: r.last_error ?? '' }))
      const last = page.at(-1)
      return { items, next: rows.length > size && last !== undefined ? encodeCursor(last.n) : null }
    },
    replayDead: (jobId) => s.replay.run(jobId).changes > 0,
  }
}

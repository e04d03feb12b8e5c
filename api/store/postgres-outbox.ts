/**
 * The outbox table as the delivery worker's port, on PostgreSQL. The semantics are those of the
 * reference in-memory outbox (api/delivery/memory-outbox.ts); every method returns a Promise.
 *
 * Several workers (processes) share the table: a claim locks the rows it takes with
 * `FOR UPDATE SKIP LOCKED`, so concurrent claims never wait on each other nor take the same job,
 * and leases them (pushes their due time forward) in the same statement.
 */
import type pg from 'pg'
import type { AsyncOutboxPort, DeadJob, OutboxJob } from '../delivery/types.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import { FEED } from './outbox.ts'
import type { TicketRecord } from './types.ts'

export type { AsyncOutboxPort }

interface JobRow { n: number; id: string; ticket_id: string; adapter: string; attempts: number; event: string; payload: string; last_error: string | null }

const toJob = (r: JobRow): OutboxJob => ({
  id: r.id, ticketId: r.ticket_id, adapter: r.adapter, attempts: r.attempts,
  event: r.event as OutboxJob['event'], payload: JSON.parse(r.payload) as TicketRecord,
})

/*
 * A job is due when its time has come and no older pending job of the same ticket and adapter is
 * waiting (changes of one ticket reach each target in order; see OutboxPort.claimDue). A leased
 * older job counts as waiting, so a second worker does not overtake the first.
 */
const CLAIM = `
  WITH due AS (
    SELECT o.n FROM outbox o
    WHERE o.state = 'pending' AND o.adapter <> $1 AND o.next_attempt_at <= $2
      AND NOT EXISTS (
        SELECT 1 FROM outbox w WHERE w.ticket_id = o.ticket_id AND w.adapter = o.adapter
          AND w.state = 'pending' AND w.n < o.n AND w.next_attempt_at > $2)
    ORDER BY o.n
    LIMIT $3
    FOR UPDATE OF o SKIP LOCKED
  )
  UPDATE outbox SET next_attempt_at = CASE WHEN $5::boolean THEN $4 ELSE outbox.next_attempt_at END
  FROM due WHERE outbox.n = due.n
  RETURNING outbox.*`

export function postgresOutboxPort(pool: pg.Pool, opts: { leaseMs?: number } = {}): AsyncOutboxPort {
  const leaseMs = opts.leaseMs ?? 30_000
  return {
    async claimDue(nowMs, limit) {
      const { rows } = await pool.query<JobRow>(CLAIM, [FEED, nowMs, Math.max(0, Math.trunc(limit)), nowMs + leaseMs, leaseMs > 0])
      // RETURNING does not keep the CTE's order.
      return rows.sort((a, b) => a.n - b.n).map(toJob)
    },
    async markDelivered(jobId, externalRef, nowMs) {
      await pool.query("UPDATE outbox SET state = 'delivered', external_ref = $1, delivered_at = $2 WHERE id = $3",
        [externalRef, new Date(nowMs).toISOString(), jobId])
    },
    async markRetry(jobId, attempts, nextAttemptAtMs, error) {
      await pool.query("UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4 AND state = 'pending'",
        [attempts, nextAttemptAtMs, error, jobId])
    },
    async markDead(jobId, attempts, error) {
      await pool.query("UPDATE outbox SET state = 'dead', attempts = $1, last_error = $2 WHERE id = $3", [attempts, error, jobId])
    },
    async listDead(limit, after) {
      const size = pageSize(limit)
      const { rows } = await pool.query<JobRow>("SELECT * FROM outbox WHERE state = 'dead' AND n > $1 ORDER BY n LIMIT $2",
        [decodeSeqCursor(after), size + 1])
      const page = rows.slice(0, size)
      const items: DeadJob[] = page.map((r) => ({ ...toJob(r), lastError: r.last_error ?? '' }))
      const last = page.at(-1)
      return { items, next: rows.length > size && last !== undefined ? encodeCursor(last.n) : null }
    },
    async replayDead(jobId) {
      const r = await pool.query("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = 0 WHERE id = $1 AND state = 'dead'", [jobId])
      return (r.rowCount ?? 0) > 0
    },
  }
}

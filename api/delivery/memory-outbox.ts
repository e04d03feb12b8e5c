/**
 * An in-memory OutboxPort: the reference semantics of the port (the store's table must behave the
 * same) and the outbox of the worker and adapter tests.
 */
import type { DeadJob, OutboxEvent, OutboxJob, OutboxPort, TicketForDelivery } from './types.ts'

export interface MemoryJobRow {
  job: OutboxJob
  state: 'pending' | 'delivered' | 'dead'
  nextAttemptAtMs: number
  lastError: string | null
  externalRef: string | null
  deliveredAtMs: number | null
}

export interface MemoryOutbox extends OutboxPort {
  enqueue(ticket: TicketForDelivery, adapter: string, atMs: number, event?: OutboxEvent): OutboxJob
  rows(): readonly MemoryJobRow[]
  get(jobId: string): MemoryJobRow | undefined
}

export function createMemoryOutbox(opts: { leaseMs?: number } = {}): MemoryOutbox {
  const leaseMs = opts.leaseMs ?? 0
  const rows: MemoryJobRow[] = []
  let seq = 0
  const byId = (id: string): MemoryJobRow | undefined => rows.find((r) => r.job.id === id)
  return {
    enqueue(ticket, adapter, atMs, event = 'ticket.created') {
      const job: OutboxJob = { id: `ob-${++seq}`, ticketId: ticket.id, adapter, attempts: 0, event, payload: ticket }
      rows.push({ job, state: 'pending', nextAttemptAtMs: atMs, lastError: null, externalRef: null, deliveredAtMs: null })
      return job
    },
    rows: () => rows,
    get: byId,
    claimDue(nowMs, limit) {
      // A job waiting for its retry holds back the newer jobs of its ticket and adapter (see OutboxPort).
      const waiting = new Set<string>()
      const due: MemoryJobRow[] = []
      for (const r of rows) {
        if (r.state !== 'pending' || due.length >= limit) continue
        const key = `${r.job.ticketId}\u0000${r.job.adapter}`
        if (waiting.has(key)) continue
        if (r.nextAttemptAtMs <= nowMs) due.push(r)
        else waiting.add(key)
      }
      // A lease keeps a second worker off the job while this one delivers it.
      if (leaseMs > 0) for (const r of due) r.nextAttemptAtMs = nowMs + leaseMs
      return due.map((r) => ({ ...r.job }))
    },
    markDelivered(jobId, externalRef, nowMs) {
      const r = byId(jobId)
      if (r === undefined) return
      r.state = 'delivered'
      r.externalRef = externalRef
      r.deliveredAtMs = nowMs
    },
    markRetry(jobId, attempts, nextAttemptAtMs, error) {
      const r = byId(jobId)
      if (r === undefined || r.state !== 'pending') return
      r.job.attempts = attempts
      r.nextAttemptAtMs = nextAttemptAtMs
      r.lastError = error
    },
    markDead(jobId, attempts, error) {
      const r = byId(jobId)
      if (r === undefined) return
      r.state = 'dead'
      r.job.attempts = attempts
      r.lastError = error
    },
    listDead(limit, after) {
      const dead = rows.filter((r) => r.state === 'dead')
      const start = after === undefined ? 0 : dead.findIndex((r) => r.job.id === after) + 1
      const page = dead.slice(start, start + limit)
      const items: DeadJob[] = page.map((r) => ({ ...r.job, lastError: r.lastError ?? '' }))
      const next = start + limit < dead.length ? (page.at(-1)?.job.id ?? null) : null
      return { items, next }
    },
    replayDead(jobId) {
      const r = byId(jobId)
      if (r === undefined || r.state !== 'dead') return false
      r.state = 'pending'
      r.job.attempts = 0
      r.nextAttemptAtMs = 0
      return true
    },
  }
}

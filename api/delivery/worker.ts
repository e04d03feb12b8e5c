/**
 * Drains the transactional outbox: each due job goes to its adapter; success marks it delivered,
 * a retriable failure schedules the next attempt with exponential backoff and full jitter, a
 * non-retriable failure or the last allowed attempt dead-letters it (replayable through the API).
 *
 * Delivery is at-least-once by construction (a crash between deliver() and markDelivered() repeats
 * the job); the adapters make it exactly-once in effect: Request Tracker is searched before a
 * create, webhook receivers dedupe by the idempotency key.
 */
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import type { AsyncOutboxPort, DeliveryAdapter, OutboxJob, OutboxPort } from './types.ts'

export interface DeliveryWorkerOptions {
  /** The embedded store's port answers inline, PostgreSQL's with promises: both are awaited. */
  outbox: OutboxPort | AsyncOutboxPort
  adapters: readonly DeliveryAdapter[]
  /** Attempts before a job is dead-lettered (the first try counts). */
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
  /** Pause between outbox polls while the worker runs. */
  pollMs: number
  /** Jobs claimed per poll. */
  batchSize?: number
  /** Jobs of different tickets delivered at the same time. */
  concurrency?: number
  /**
   * The lease the outbox gives claimed jobs (the port's `leaseMs`). A job is started only in the
   * first half of it: a batch that delivers slowly leaves its later jobs to lapse back into the
   * outbox rather than deliver one that another worker may have claimed again meanwhile.
   */
  leaseMs?: number
  now?: () => number
  /** [0, 1), as Math.random; injected in tests. */
  random?: () => number
  /** Called for each finished attempt (logging, metrics). */
  onOutcome?: (outcome: JobOutcome) => void
}

export type JobOutcome =
  | { jobId: string; ticketId: string; adapter: string; result: 'delivered'; attempt: number; externalRef: string | null }
  | { jobId: string; ticketId: string; adapter: string; result: 'retry'; attempt: number; nextAttemptAtMs: number; error: string }
  | { jobId: string; ticketId: string; adapter: string; result: 'dead'; attempt: number; error: string }
  | { jobId: string; ticketId: string; adapter: string; result: 'deferred'; attempt: number; nextAttemptAtMs: number; error: string }

export interface RunSummary {
  claimed: number
  delivered: number
  retried: number
  dead: number
  /** Jobs put back unattempted because an earlier job of the same ticket and adapter failed. */
  deferred: number
}

export interface DeliveryWorker {
  start(): void
  /** Stops polling and waits for the run in flight. */
  stop(): Promise<void>
  runOnce(): Promise<RunSummary>
}

/**
 * "Full jitter" (AWS architecture blog, Exponential Backoff And Jitter): a uniform delay in
 * [0, min(max, base·2^(n−1))) after the n-th failure. Spreads a thundering herd of retries after an
 * outage better than equal or decorrelated jitter at the same mean.
 */
export function backoffDelayMs(failures: number, baseDelayMs: number, maxDelayMs: number, random: () => number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, failures - 1))
  return Math.floor(random() * ceiling)
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return (err.message + cause).slice(0, 1000)
  }
  return String(err).slice(0, 1000)
}

function validate(o: DeliveryWorkerOptions): void {
  const bad = (what: string) => new ForewarnError(ErrorCode.CONFIG, `delivery worker: ${what}`)
  if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) throw bad('maxAttempts must be an integer ≥ 1')
  if (!(o.baseDelayMs > 0) || !(o.maxDelayMs >= o.baseDelayMs)) throw bad('need 0 < baseDelayMs ≤ maxDelayMs')
  if (!(o.pollMs > 0)) throw bad('pollMs must be > 0')
  const names = new Set<string>()
  for (const a of o.adapters) {
    if (names.has(a.name)) throw bad(`two adapters are named ${a.name}`)
    names.add(a.name)
  }
}

export function createDeliveryWorker(opts: DeliveryWorkerOptions): DeliveryWorker {
  validate(opts)
  const { outbox, maxAttempts, baseDelayMs, maxDelayMs, pollMs } = opts
  const now = opts.now ?? Date.now
  const random = opts.random ?? Math.random
  const batchSize = opts.batchSize ?? 50
  const concurrency = Math.max(1, opts.concurrency ?? 4)
  const adapters = new Map(opts.adapters.map((a) => [a.name, a]))
  const emit = opts.onOutcome ?? (() => undefined)

  /** Delivers one job and records the result; returns false when the job failed. */
  async function attempt(job: OutboxJob, summary: RunSummary): Promise<boolean> {
    const n = job.attempts + 1
    const base = { jobId: job.id, ticketId: job.ticketId, adapter: job.adapter, attempt: n }
    const adapter = adapters.get(job.adapter)
    let err: unknown
    if (adapter === undefined) {
      err = new ForewarnError(ErrorCode.CONFIG, `no delivery adapter named ${job.adapter} is configured`)
    } else {
      try {
        const { externalRef } = await adapter.deliver(job.payload, { attempt: n, idempotencyKey: job.id, event: job.event })
        await outbox.markDelivered(job.id, externalRef, now())
        summary.delivered++
        emit({ ...base, result: 'delivered', externalRef })
        return true
      } catch (e) {
        err = e
      }
    }
    // Anything that is not a ForewarnError is a bug or an unknown IO failure: retry, it may pass.
    const retriable = err instanceof ForewarnError ? err.retriable : true
    const error = describeError(err)
    if (!retriable || n >= maxAttempts) {
      await outbox.markDead(job.id, n, error)
      summary.dead++
      emit({ ...base, result: 'dead', error })
    } else {
      // Never sooner than the target may still be carrying out the attempt that went unanswered.
      const settleMs = err instanceof ForewarnError ? err.retryAfterMs : 0
      const nextAttemptAtMs = now() + Math.max(settleMs, backoffDelayMs(n, baseDelayMs, maxDelayMs, random))
      await outbox.markRetry(job.id, n, nextAttemptAtMs, error)
      summary.retried++
      emit({ ...base, result: 'retry', nextAttemptAtMs, error })
    }
    return false
  }

  /**
   * Jobs of one ticket and adapter run one after the other, in outbox order, and stop at the first
   * failure: an update must never overtake the create it follows (nor race it into a duplicate).
   */
  async function runGroup(jobs: OutboxJob[], summary: RunSummary, claimedAt: number): Promise<void> {
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i] as OutboxJob
      // Fencing: past half its lease a job is left alone; it is due again when the lease ends.
      if (opts.leaseMs !== undefined && opts.leaseMs > 0 && now() - claimedAt >= opts.leaseMs / 2) return
      if (await attempt(job, summary)) continue
      const retryAt = now() + baseDelayMs
      for (const rest of jobs.slice(i + 1)) {
        const error = `waiting for ${job.id} of the same ticket`
        await outbox.markRetry(rest.id, rest.attempts, retryAt, error)
        summary.deferred++
        emit({ jobId: rest.id, ticketId: rest.ticketId, adapter: rest.adapter, attempt: rest.attempts + 1, result: 'deferred', nextAttemptAtMs: retryAt, error })
      }
      return
    }
  }

  async function runOnce(): Promise<RunSummary> {
    const claimedAt = now()
    const jobs = await outbox.claimDue(claimedAt, batchSize)
    const summary: RunSummary = { claimed: jobs.length, delivered: 0, retried: 0, dead: 0, deferred: 0 }
    const groups = new Map<string, OutboxJob[]>()
    for (const job of jobs) {
      const key = `${job.ticketId}\u0000${job.adapter}`
      const g = groups.get(key)
      if (g === undefined) groups.set(key, [job])
      else g.push(job)
    }
    const queue = [...groups.values()]
    const lane = async (): Promise<void> => {
      for (let g = queue.shift(); g !== undefined; g = queue.shift()) await runGroup(g, summary, claimedAt)
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, lane))
    return summary
  }

  let running = false
  let timer: NodeJS.Timeout | null = null
  let inFlight: Promise<RunSummary | null> | null = null

  const schedule = (delayMs: number): void => {
    if (!running) return
    timer = setTimeout(tick, delayMs)
  }
  function tick(): void {
    timer = null
    // A store error must not kill the loop: the next poll tries again.
    const run = runOnce().catch(() => null)
    inFlight = run
    void run.then((s) => {
      inFlight = null
      // A full batch means more may be due right now: do not wait a whole poll interval.
      schedule(s !== null && s.claimed >= batchSize ? 0 : pollMs)
    })
  }

  return {
    start() {
      if (running) return
      running = true
      schedule(0)
    },
    async stop() {
      running = false
      if (timer !== null) clearTimeout(timer)
      timer = null
      if (inFlight !== null) await inFlight
    },
    runOnce,
  }
}

/**
 * The pipeline's one ordered lane of records-store writes, and the rule that keeps a store outage
 * from losing anything: a write that fails because the store is away (connection refused, server
 * restarting, SQLite busy, disk full: api/store/errors.ts) is tried again with backoff until it
 * succeeds, and the lane waits behind it, so nothing after it overtakes it and `settled()` (which
 * the checkpoint awaits) does not resolve until it is stored. Replays are safe: the store applies
 * a detector event once per episode id, kind and severity.
 *
 * Only the store's own verdict on a write (a ForewarnError with a code other than STORE, e.g. an
 * unknown device) ends a write without storing it: trying again cannot change that verdict.
 * A STORE error not known to be transient is tried again too, slowly: a misclassified outage must
 * not lose an effect, and a real fault keeps /readyz red until someone looks.
 *
 * On shutdown `abandon()` stops the retries; from then on `settled()` rejects if any write was
 * given up, so the final checkpoint is not recorded and a restart replays those readings.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import { isTransientStoreFailure } from '../api/store/errors.ts'

export interface StoreLaneOptions {
  log: Logger
  /** First retry after this long; each further one waits twice as long, up to maxDelayMs. */
  minDelayMs?: number
  maxDelayMs?: number
  /** The cap for failures not known to be transient. */
  maxDelayUnknownMs?: number
  /** Called once per failed attempt that will be retried (a Prometheus counter). */
  onRetry?: (op: string, retriable: boolean) => void
  now?: () => number
}

/** While writes fail: since when, how often retried, and the last error (for /readyz). */
export interface StoreOutage {
  since: number
  retries: number
  op: string
  error: string
  retriable: boolean
}

export interface StoreLane {
  /** Runs `task` after every task queued before it; resolves when it has finished (never rejects). */
  run(what: string, task: () => Promise<void>): Promise<void>
  /** One store call inside a task, retried until it succeeds (see the file comment for the exceptions). */
  write<T>(what: string, call: () => Promise<T>): Promise<T>
  /** Resolves when every task queued so far has finished; rejects if a write was given up. */
  settled(): Promise<void>
  /** Non-null while a write is failing. */
  outage(): StoreOutage | null
  /** True once a write was given up (after abandon()). */
  lost(): boolean
  /** Stop retrying: the write waiting for its retry and every later failing write are given up. */
  abandon(): void
}

/** The store's decision about this write, not a failure to reach it. */
const isVerdict = (err: unknown): boolean => err instanceof ForewarnError && err.code !== ErrorCode.STORE

export function createStoreLane(o: StoreLaneOptions): StoreLane {
  const { log } = o
  const now = o.now ?? Date.now
  const minDelayMs = o.minDelayMs ?? 100
  const maxDelayMs = o.maxDelayMs ?? 5_000
  const maxDelayUnknownMs = o.maxDelayUnknownMs ?? 30_000
  const stop = new AbortController()
  let tail: Promise<void> = Promise.resolve()
  let outage: StoreOutage | null = null
  let given = 0

  function failed(what: string, err: unknown, retriable: boolean): void {
    const error = err instanceof Error ? err.message : String(err)
    if (outage === null) {
      outage = { since: now(), retries: 0, op: what, error, retriable }
      // Once per outage, not per reading: the lane holds everything behind this one write.
      log.error({ err, op: what, retriable }, retriable
        ? 'records store unavailable: retrying with backoff; readings wait in the journal and checkpoints are held until the write succeeds'
        : 'records store fails a write with an error not known to be transient: retrying slowly; checkpoints are held; this may need an operator')
    }
    outage.retries++
    outage.op = what
    outage.error = error
    outage.retriable = retriable
    o.onRetry?.(what, retriable)
  }

  async function write<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await call()
        if (outage !== null) {
          log.warn({ retries: outage.retries, outageMs: now() - outage.since }, 'records store writes succeed again; the held effects are stored in order')
          outage = null
        }
        return out
      } catch (err) {
        if (isVerdict(err)) throw err
        if (stop.signal.aborted) {
          given++
          throw new ForewarnError(ErrorCode.STORE, `${what}: not stored (shutting down while the records store fails); a restart replays it`, { cause: err, retriable: true })
        }
        const retriable = isTransientStoreFailure(err)
        failed(what, err, retriable)
        const delay = Math.min(retriable ? maxDelayMs : maxDelayUnknownMs, minDelayMs * 2 ** Math.min(attempt, 20))
        await sleep(delay, undefined, { signal: stop.signal }).catch(() => undefined)
      }
    }
  }

  return {
    run(what, task) {
      const p = tail.then(task).catch((err: unknown) => {
        // A verdict (or a write given up at shutdown) ends this task; the lane goes on.
        if (!stop.signal.aborted) log.error({ err }, `${what} failed`)
      })
      tail = p
      return p
    },
    write,
    settled() {
      return tail.then(() => {
        if (given > 0) throw new ForewarnError(ErrorCode.STORE, `${given} records-store writes were given up at shutdown`, { retriable: true })
      })
    },
    outage: () => outage,
    lost: () => given > 0,
    abandon: () => stop.abort(),
  }
}

/**
 * Where the journal is written. A file journal writes in a worker thread (journal-worker.ts): the
 * inserts and the fsync of a group commit, and checkpoints, no longer stop the event loop, which
 * parses the next group meanwhile; and the main thread never waits on SQLite's write lock. An
 * in-memory journal (tests, `dataDir: null`) cannot be shared between threads and writes inline.
 * Requests run in the order they are made, so journal ids follow commit order. The worker takes
 * every commit waiting in its queue into one transaction (classic group commit): ingest posts each
 * group as soon as it is parsed, and the next transaction starts the moment the previous one is
 * durable, without a round trip through the event loop. Inline, ingest keeps one commit in flight.
 */
import { sibling, startTsWorker } from './ts-worker.ts'
import type { Journal, PendingReject, PendingRow } from './journal.ts'

/**
 * Rows travel as one string, 6 fields per row separated by NUL: structured clone copies one string
 * much faster than an array of objects. NUL cannot occur in a field: device ids are
 * [A-Za-z0-9_-], numbers are numbers, and JSON text holds control characters only escaped.
 */
export const SEP = '\u0000'

export type WriteRequest =
  | { op: 'commit'; packed: string; count: number; rejects: PendingReject[]; at: number }
  | { op: 'checkpoint'; cursor: number; snapshots: [string, string][]; prune: Prune | null }
  | { op: 'close' }

/** What a checkpoint prunes after recording its cursor: see Journal.pruneProcessed. */
export interface Prune { olderThan: number; keepRows: number }

/** `tx` numbers the transaction a commit went into (several commits may share one). */
export type WriteReply = { ok: true; ids: number[]; tx: number } | { ok: false; message: string }

export interface Committed {
  ids: number[]
  tx: number
}

export interface JournalWriter {
  /** Whether commits may be handed over while earlier ones are in flight (they still run in order). */
  readonly pipelined: boolean
  /** Resolves with the journal id per row (0 = duplicate) once the commit is durable. */
  commit(rows: readonly PendingRow[], rejects: readonly PendingReject[], at: number): Promise<Committed>
  /** Records snapshots with their cursor in one transaction, then prunes when asked. */
  checkpoint(cursor: number, snapshots: [string, string][], prune: Prune | null): Promise<void>
  close(): Promise<void>
}

/** A checkpoint's work, shared by both writers. */
export function performCheckpoint(journal: Journal, cursor: number, snapshots: [string, string][], prune: Prune | null): void {
  journal.checkpoint(cursor, snapshots)
  if (prune !== null) journal.pruneProcessed(prune.olderThan, prune.keepRows)
}

export function inlineWriter(journal: Journal): JournalWriter {
  const run = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn())
    } catch (err) {
      return Promise.reject(err as Error)
    }
  }
  let tx = 0
  return {
    pipelined: false,
    commit: (rows, rejects, at) => run(() => ({ ids: journal.commit(rows, rejects, at).ids, tx: ++tx })),
    checkpoint: (cursor, snapshots, prune) => run(() => performCheckpoint(journal, cursor, snapshots, prune)),
    close: () => Promise.resolve(),
  }
}


interface Pending {
  resolve: (c: Committed) => void
  fail: (e: Error) => void
}

export function workerWriter(dataDir: string, maxRejects: number): JournalWriter {
  const worker = startTsWorker(sibling('journal-worker', import.meta.url), { dataDir, maxRejects })
  // Idle, the worker must not keep the process alive; with a request in flight it must.
  worker.unref()
  // Replies come back in request order.
  const pending: Pending[] = []
  let head = 0
  let broken: Error | null = null
  let exited = false
  const exit = new Promise<void>((resolve) => worker.once('exit', () => {
    exited = true
    resolve()
  }))

  const fail = (err: Error): void => {
    broken ??= err
    const ps = pending.splice(head)
    pending.length = 0
    head = 0
    for (const p of ps) p.fail(err)
  }
  worker.on('error', fail)
  worker.once('exit', (code) => fail(new Error(`journal worker exited (${code})`)))
  worker.on('message', (reply: WriteReply) => {
    const p = pending[head++]
    if (head === pending.length) {
      pending.length = 0
      head = 0
      worker.unref()
    }
    if (p === undefined) return
    if (reply.ok) p.resolve(reply)
    else p.fail(new Error(reply.message))
  })

  function send(req: WriteRequest): Promise<Committed> {
    if (broken) return Promise.reject(broken)
    return new Promise<Committed>((resolve, reject) => {
      if (pending.length === head) worker.ref()
      pending.push({ resolve, fail: reject })
      worker.postMessage(req)
    })
  }

  return {
    pipelined: true,
    commit(rows, rejects, at) {
      let packed = ''
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i] as PendingRow
        packed += `${i === 0 ? '' : SEP}${r.deviceId}${SEP}${r.kind}${SEP}${r.boot}${SEP}${r.seq}${SEP}${r.ts}${SEP}${r.body}`
      }
      return send({ op: 'commit', packed, count: rows.length, rejects: rejects as PendingReject[], at })
    },
    async checkpoint(cursor, snapshots, prune) {
      await send({ op: 'checkpoint', cursor, snapshots, prune })
    },
    async close() {
      if (exited) return
      worker.ref()
      worker.postMessage({ op: 'close' } satisfies WriteRequest)
      await exit
    },
  }
}

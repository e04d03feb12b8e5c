/**
 * Where group commits run. A file journal commits in a worker thread (journal-worker.ts): the
 * inserts and the fsync of a commit no longer stop the event loop, which keeps parsing the next
 * group meanwhile. An in-memory journal (tests, `dataDir: null`) cannot be shared between threads
 * and commits inline. Either way one commit is in flight at a time (ingest/index.ts), so journal
 * ids follow commit order.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Journal, PendingReject, PendingRow } from './journal.ts'

/**
 * Rows travel as one string, 6 fields per row separated by NUL: structured clone copies one string
 * much faster than an array of objects. NUL cannot occur in a field: device ids are
 * [A-Za-z0-9_-], numbers are numbers, and JSON.stringify escapes control characters.
 */
export const SEP = '\u0000'

export interface CommitRequest {
  packed: string
  count: number
  rejects: PendingReject[]
  at: number
}

export type CommitReply = { ok: true; ids: number[] } | { ok: false; message: string }

export interface JournalWriter {
  /** Resolves with the journal id per row (0 = duplicate) once the commit is durable. */
  commit(rows: readonly PendingRow[], rejects: readonly PendingReject[], at: number): Promise<number[]>
  close(): Promise<void>
}

export function inlineWriter(journal: Journal): JournalWriter {
  return {
    commit(rows, rejects, at) {
      try {
        return Promise.resolve(journal.commit(rows, rejects, at).ids)
      } catch (err) {
        return Promise.reject(err as Error)
      }
    },
    close: () => Promise.resolve(),
  }
}

// Worker threads do not inherit tsx's `--import` hook on Node 20: the worker registers it itself.
const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href
const workerBody = new URL('./journal-worker.ts', import.meta.url).href
const workerBoot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(workerBody)}) })`

export function workerWriter(dataDir: string, maxRejects: number): JournalWriter {
  const worker = new Worker(workerBoot, { eval: true, workerData: { dataDir, maxRejects } })
  // Idle, the worker must not keep the process alive; with a commit in flight it must.
  worker.unref()
  let pending: { resolve: (ids: number[]) => void; fail: (e: Error) => void } | null = null
  let broken: Error | null = null
  let exited = false
  const exit = new Promise<void>((resolve) => worker.once('exit', () => {
    exited = true
    resolve()
  }))

  const fail = (err: Error): void => {
    broken ??= err
    const p = pending
    pending = null
    p?.fail(err)
  }
  worker.on('error', fail)
  worker.once('exit', (code) => fail(new Error(`journal worker exited (${code})`)))
  worker.on('message', (reply: CommitReply) => {
    const p = pending
    pending = null
    worker.unref()
    if (p === null) return
    if (reply.ok) p.resolve(reply.ids)
    else p.fail(new Error(reply.message))
  })

  return {
    commit(rows, rejects, at) {
      if (broken) return Promise.reject(broken)
      if (pending) return Promise.reject(new Error('journal writer: a commit is already in flight'))
      let packed = ''
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i] as PendingRow
        packed += `${i === 0 ? '' : SEP}${r.deviceId}${SEP}${r.kind}${SEP}${r.boot}${SEP}${r.seq}${SEP}${r.ts}${SEP}${r.body}`
      }
      return new Promise<number[]>((resolve, reject) => {
        pending = { resolve, fail: reject }
        worker.ref()
        const req: CommitRequest = { packed, count: rows.length, rejects: rejects as PendingReject[], at }
        worker.postMessage(req)
      })
    },
    async close() {
      if (exited) return
      worker.ref()
      worker.postMessage('close')
      await exit
    },
  }
}

/**
 * The embedded store: SQLite through libsql (N-API, binary shipped in the npm package), WAL with
 * synchronous=FULL so a commit is on disk (fsync) before it returns. It runs the one store
 * (./records.ts) synchronously: each statement is answered inline, writes in `BEGIN IMMEDIATE`.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'libsql'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { sqlite } from './dialect.ts'
import { TicketChangeListeners } from './listeners.ts'
import { migrationWork } from './migrations.ts'
import { outboxWork } from './outbox.ts'
import { Records, serverSecret, workMethods } from './records.ts'
import { storeError, type Op, type OpResult, type Steps, type Work } from './run.ts'
import type { Store, StoreOptions } from './types.ts'

/** Prepared statements kept per connection; multi-row batches of new sizes beyond this start afresh. */
const STATEMENT_CACHE = 256
const NOTHING: OpResult = { rows: [], changes: 0 }

export function openSqliteStore(opts: StoreOptions): Store {
  let path = ':memory:'
  if (opts.dataDir !== null) {
    try {
      mkdirSync(opts.dataDir, { recursive: true })
    } catch (cause) {
      throw new ForewarnError(ErrorCode.STORE, `cannot create data directory ${opts.dataDir}`, { cause })
    }
    path = join(opts.dataDir, 'forewarn.db')
  }
  let db: Database.Database
  let run: <T>(w: Work<T>) => T
  let secret: Buffer
  try {
    db = new Database(path)
    db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000')
    run = syncRunner(db)
    for (const w of migrationWork(sqlite)) run(w)
    secret = run(serverSecret(sqlite))
  } catch (cause) {
    throw new ForewarnError(ErrorCode.STORE, `cannot open the embedded database at ${path}`, { cause })
  }
  const records = new Records(sqlite, { ...opts, secret })
  const listeners = new TicketChangeListeners()
  const store = {} as Record<string, unknown>
  for (const name of workMethods) store[name] = (...a: unknown[]) => run((records[name] as (...x: unknown[]) => Work<unknown>).apply(records, a))
  const methods: Pick<Store, 'transitionTicket' | 'onTransition' | 'outboxPort' | 'setPublicUrl' | 'close'> = {
    transitionTicket(id, change) {
      const done = run(records.transitionTicket(id, change))
      listeners.emit(done)
      return done.ticket
    },
    onTransition: (listener) => listeners.add(listener),
    outboxPort(o) {
      const w = outboxWork(sqlite, o)
      return {
        claimDue: (nowMs, limit) => run(w.claimDue(nowMs, limit)),
        markDelivered: (id, ref, nowMs) => run(w.markDelivered(id, ref, nowMs)),
        markRetry: (id, attempts, at, error) => run(w.markRetry(id, attempts, at, error)),
        markDead: (id, attempts, error) => run(w.markDead(id, attempts, error)),
        listDead: (limit, after) => run(w.listDead(limit, after)),
        replayDead: (id) => run(w.replayDead(id)),
      }
    },
    setPublicUrl: (url) => { records.publicUrl = url },
    close: () => { if (db.open) db.close() },
  }
  const ping = store.ping as () => boolean
  return Object.assign(store, methods, { ping: () => { try { return ping() } catch { return false } } }) as unknown as Store
}

/** Answers each statement inline; a write Work is one immediate transaction. */
function syncRunner(db: Database.Database): <T>(w: Work<T>) => T {
  const cache = new Map<string, Database.Statement>()
  const exec = (o: Op): OpResult => {
    let st = cache.get(o.sql)
    if (st === undefined) {
      if (cache.size >= STATEMENT_CACHE) cache.clear()
      st = db.prepare(o.sql)
      cache.set(o.sql, st)
    }
    if (st.reader) {
      const rows = st.all(o.params) as unknown[]
      return { rows, changes: rows.length }
    }
    return { rows: [], changes: st.run(o.params).changes }
  }
  const drive = <T>(steps: Steps<T>): T => {
    let r = steps.next(NOTHING)
    while (r.done !== true) r = steps.next(exec(r.value))
    return r.value
  }
  return (w) => {
    try {
      return w.mode === 'write' ? db.transaction(() => drive(w.steps())).immediate() : drive(w.steps())
    } catch (err) {
      throw storeError(sqlite, err)
    }
  }
}

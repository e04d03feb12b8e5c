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
import { migrationWork } from './migrations.ts'
import { Records, serverSecret, storeOver } from './records.ts'
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
  const store = storeOver(sqlite, new Records(sqlite, { ...opts, secret }), run as (w: Work<unknown>) => unknown)
  const ping = store.ping as () => boolean
  return Object.assign(store, {
    ping: () => { try { return ping() } catch { return false } },
    close: () => { if (db.open) db.close() },
  }) as unknown as Store
}

/** Answers each statement inline; a write Work is one immediate transaction. */
function syncRunner(db: Database.Database): <T>(w: Work<T>) => T {
  // `reader` is a native call: asked once per statement.
  const cache = new Map<string, { st: Database.Statement; reader: boolean }>()
  const exec = (o: Op): OpResult => {
    let c = cache.get(o.sql)
    if (c === undefined) {
      if (cache.size >= STATEMENT_CACHE) cache.clear()
      const st = db.prepare(o.sql)
      c = { st, reader: st.reader }
      cache.set(o.sql, c)
    }
    if (!c.reader) return { rows: [], changes: c.st.run(o.params).changes }
    if (o.one === true) {
      // get() reads one row; all() fills row buffers of a hundred.
      const row = c.st.get(o.params) as unknown
      return row === undefined ? NOTHING : { rows: [row], changes: 1 }
    }
    const rows = c.st.all(o.params) as unknown[]
    return { rows, changes: rows.length }
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

/**
 * The production records store: PostgreSQL (a `DATABASE_URL`), running the one store
 * (./records.ts) with every statement awaited. Transactions run at READ COMMITTED with the device
 * row locked wherever a change must be idempotent or append to the device's hash chain (see
 * ./events.ts); one that still loses a race (serialization failure, deadlock) is run again.
 */
import pg from 'pg'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { postgres } from './dialect.ts'
import { isTransientStoreFailure } from './errors.ts'
import { migrationWork } from './migrations.ts'
import { Records, serverSecret, storeOver } from './records.ts'
import { storeError, type OpResult, type Steps, type Work } from './run.ts'
import type { AsyncRecordsStore, StoreOptions } from './types.ts'

export interface PostgresStoreOptions extends Omit<StoreOptions, 'dataDir'> {
  /** postgres://user:password@host:port/database */
  databaseUrl: string
  /** Connections in the pool. */
  poolSize?: number | undefined
  /** Errors of idle pooled connections (a restarted server); they are otherwise dropped. */
  onIdleError?: ((err: Error) => void) | undefined
}

const TX_ATTEMPTS = 4
const NOTHING: OpResult = { rows: [], changes: 0 }

// BIGINT (epoch milliseconds, counts, sequence numbers) as numbers, for this pool only; every such
// value stays far below 2^53.
const INT8_OID = 20
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
}

async function drive<T>(c: pg.ClientBase | pg.Pool, steps: Steps<T>): Promise<T> {
  let r = steps.next(NOTHING)
  while (r.done !== true) {
    const res = await c.query(r.value.sql, r.value.params as unknown[])
    r = steps.next({ rows: res.rows, changes: res.rowCount ?? 0 })
  }
  return r.value
}

const BEGIN = { write: 'BEGIN', snapshot: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' } as const

/** Runs a Work: a lone statement on any pooled connection, a transaction on one, retried after a lost race. */
function asyncRunner(pool: pg.Pool): <T>(w: Work<T>) => Promise<T> {
  return async function run<T>(w: Work<T>): Promise<T> {
    if (w.mode === 'none') return drive(pool, w.steps()).catch((err: unknown) => { throw storeError(postgres, err) })
    for (let attempt = 1; ; attempt++) {
      let c: pg.PoolClient
      try {
        c = await pool.connect()
      } catch (err) {
        throw storeError(postgres, err)
      }
      let broken = false
      try {
        await c.query(BEGIN[w.mode])
        const out = await drive(c, w.steps())
        await c.query('COMMIT')
        return out
      } catch (err) {
        try {
          await c.query('ROLLBACK')
        } catch {
          broken = true
        }
        if (postgres.isRace(err) && attempt < TX_ATTEMPTS) continue
        throw storeError(postgres, err)
      } finally {
        c.release(broken)
      }
    }
  }
}

/** Migrates on one connection holding the migration lock, so concurrent starts take turns. */
async function migrate(pool: pg.Pool): Promise<void> {
  const c = await pool.connect()
  try {
    for (const s of postgres.migrationLock.take) await c.query(s)
    try {
      for (const w of migrationWork(postgres)) {
        await c.query('BEGIN')
        try {
          await drive(c, w.steps())
          await c.query('COMMIT')
        } catch (err) {
          await c.query('ROLLBACK')
          throw err
        }
      }
    } finally {
      for (const s of postgres.migrationLock.release) await c.query(s)
    }
  } finally {
    c.release()
  }
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<AsyncRecordsStore> {
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10, types })
  pool.on('error', (err) => opts.onIdleError?.(err))
  // A connection that breaks while checked out (the server stopped between two statements of a
  // transaction) emits 'error' with no pool listener attached, which would crash the process; its
  // next statement fails anyway, classified retriable, and that is where it is handled.
  pool.on('connect', (client) => client.on('error', () => undefined))
  const run = asyncRunner(pool)
  let records: Records
  try {
    await migrate(pool)
    records = new Records(postgres, { ...opts, secret: await run(serverSecret(postgres)) })
  } catch (cause) {
    await pool.end().catch(() => {})
    throw new ForewarnError(ErrorCode.STORE, `cannot open the PostgreSQL store: ${(cause as Error).message}`, { cause, retriable: isTransientStoreFailure(cause) })
  }
  let closed = false
  const store = storeOver(postgres, records, run as (w: Work<unknown>) => unknown)
  const ping = store.ping as () => Promise<boolean>
  return Object.assign(store, {
    ping: () => ping().catch(() => false),
    async close() {
      if (closed) return
      closed = true
      await pool.end()
    },
  }) as unknown as AsyncRecordsStore
}

/**
 * Which store failures are worth trying again (STYLE.md 4: a `retriable` flag on IO errors). One
 * list for both stores, so the pipeline can tell "the store is away" (wait, retry, hold the
 * checkpoint) from "the store refused this write" without knowing which store it talks to.
 */
import { ErrorCode, ForewarnError } from '../../domain/index.ts'

/** Node socket errors of a server that is down, restarting or unreachable. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])

/**
 * SQLite result codes of a write that may succeed later: another writer holds the lock, the disk
 * is full or failing, the file cannot be opened right now. Extended codes (SQLITE_IOERR_WRITE,
 * SQLITE_BUSY_SNAPSHOT, …) share their primary code's prefix.
 */
const SQLITE_TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM|READONLY_DBMOVED)/

/**
 * PostgreSQL SQLSTATE classes: 08 connection exception, 40 transaction rollback (serialisation,
 * deadlock), 53 insufficient resources (disk full 53100), 57P operator intervention (shutdown,
 * cannot connect now), 58 system error (I/O error 58030).
 */
const PG_TRANSIENT = /^(08|40|53|57P|58)/

/**
 * SQLite rolls a transaction back by itself when a write hits a full disk, an I/O error or a busy
 * lock; the transaction wrapper's own ROLLBACK then fails with this message and hides the cause.
 */
const SQLITE_AUTO_ROLLBACK = /cannot rollback - no transaction is active/

/** node-postgres reports a dropped or timed-out connection by message only. */
const PG_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i

export function isTransientStoreFailure(err: unknown): boolean {
  if (err instanceof ForewarnError) return err.retriable
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code) || SQLITE_TRANSIENT.test(code)) return true
    if (/^[0-9A-Z]{5}$/.test(code) && PG_TRANSIENT.test(code)) return true
  }
  const message = String((err as Error | null)?.message ?? '')
  return PG_MESSAGES.test(message) || SQLITE_AUTO_ROLLBACK.test(message)
}

/** ForewarnErrors pass as they are; anything else becomes a STORE error, cause kept, classified. */
export function toStoreError(err: unknown, what: string): ForewarnError {
  if (err instanceof ForewarnError) return err
  let message = (err as Error | null)?.message ?? String(err)
  if (SQLITE_AUTO_ROLLBACK.test(message)) message = 'SQLite rolled the transaction back (disk full, I/O error or busy)'
  return new ForewarnError(ErrorCode.STORE, `${what}: ${message}`, { cause: err, retriable: isTransientStoreFailure(err) })
}

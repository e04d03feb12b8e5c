/**
 * How the store is written once for a synchronous database (SQLite through libsql) and an
 * asynchronous one (PostgreSQL through pg): its operations are generators that yield statements
 * and receive their results. The SQLite runner answers each statement inline, so the embedded store
 * stays synchronous; the PostgreSQL runner awaits each one. The steps never know which.
 *
 * Statements are built with Kysely and compiled once at set-up (`prepare`): the builder is called
 * with named slots in place of values, and `bind` puts the values in the slots' places.
 */
import type { Compilable } from 'kysely'
import type { ForewarnError } from '../../domain/index.ts'
import type { Dialect } from './dialect.ts'
import { toStoreError } from './errors.ts'

/** A statement with its values bound; `one` when only the first row is wanted. */
export interface Op { readonly sql: string; readonly params: readonly unknown[]; readonly one?: boolean }
export interface OpResult { rows: unknown[]; changes: number }
/** A store operation: yields statements, receives their results, returns its answer. */
export type Steps<T> = Generator<Op, T, OpResult>

/** How a runner wraps an operation: one write transaction, a read-only snapshot, or none. */
export type Mode = 'write' | 'snapshot' | 'none'
export interface Work<T> { readonly mode: Mode; readonly steps: () => Steps<T> }

export const write = <T>(steps: () => Steps<T>): Work<T> => ({ mode: 'write', steps })
export const snapshot = <T>(steps: () => Steps<T>): Work<T> => ({ mode: 'snapshot', steps })
export const single = <T>(steps: () => Steps<T>): Work<T> => ({ mode: 'none', steps })

class Slot { constructor(readonly name: string) {} }
const slots = new Proxy({}, { get: (_t, name) => new Slot(String(name)) })

export interface Prepared<A, O> {
  bind(args: A, one?: boolean): Op
  /** The type of its rows; never set (types only). */
  readonly row?: O
}

export function prepare<A extends object, O>(build: (p: A) => Compilable<O>): Prepared<A, O> {
  const compiled = build(slots as A).compile()
  const names = compiled.parameters.map((v) => (v instanceof Slot ? v.name : null))
  const fixed = compiled.parameters
  return {
    bind(args, one = false) {
      const a = args as Record<string, unknown>
      const params = new Array<unknown>(names.length)
      for (let i = 0; i < names.length; i++) params[i] = names[i] === null ? fixed[i] : (a[names[i]!] ?? null)
      return { sql: compiled.sql, params, one }
    },
  }
}

/** A statement that takes no values. */
export const constant = (q: Compilable<unknown>): Op => {
  const c = q.compile()
  return { sql: c.sql, params: c.parameters }
}

export function* rows<A, O>(p: Prepared<A, O>, args: A): Steps<O[]> {
  return (yield p.bind(args)).rows as O[]
}

export function* first<A, O>(p: Prepared<A, O>, args: A): Steps<O | undefined> {
  return (yield p.bind(args, true)).rows[0] as O | undefined
}

/** Runs a statement; answers how many rows it changed. */
export function* change<A, O>(p: Prepared<A, O>, args: A): Steps<number> {
  return (yield p.bind(args)).changes
}

export function* op(o: Op): Steps<OpResult> {
  return yield o
}

export function* ops(list: readonly string[]): Steps<void> {
  for (const s of list) yield { sql: s, params: [] }
}

/** ForewarnErrors pass; database errors become STORE errors with the cause kept, classified (./errors.ts). */
export function storeError(d: Dialect, err: unknown): ForewarnError {
  return toStoreError(err, d.name === 'sqlite' ? 'SQLite store' : 'PostgreSQL store')
}

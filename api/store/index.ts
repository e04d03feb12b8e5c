/** The records store: the embedded SQLite store by default (PostgreSQL later, same interface). */
import { openSqliteStore } from './sqlite.ts'
import type { Store, StoreOptions } from './types.ts'

export type * from './types.ts'
export { healthStatus } from './sqlite.ts'

export function openStore(opts: StoreOptions): Store {
  return openSqliteStore(opts)
}

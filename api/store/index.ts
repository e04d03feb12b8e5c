/** The records store: the embedded SQLite store, synchronous (PostgreSQL: ./postgres.ts, through ./open.ts). */
import { openSqliteStore } from './sqlite.ts'
import type { Store, StoreOptions } from './types.ts'

export type * from './types.ts'
export { healthStatus } from './records.ts'

export function openStore(opts: StoreOptions): Store {
  return openSqliteStore(opts)
}

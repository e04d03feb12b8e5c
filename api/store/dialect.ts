/**
 * Every difference between the two databases the store runs on, in one place. The store's steps
 * (./records.ts, ./events.ts, ./history.ts, ./outbox.ts) and the migrations (./migrations.ts) are
 * written once against Kysely and this interface; nothing else in the store names a database.
 *
 * - locking: PostgreSQL locks rows (`FOR UPDATE`, `FOR SHARE`, `SKIP LOCKED`) and orders outbox
 *   numbers with an advisory lock; SQLite's write transaction (`BEGIN IMMEDIATE`) already holds the
 *   whole database, so those are no-ops there.
 * - scalar maximum: `max(a, b)` in SQLite, `greatest(a, b)` in PostgreSQL.
 * - many rows of values in one statement: a VALUES list, or one array per column (unnest).
 * - reading a field of a JSON text column: `json_extract` or `->>` (a migration's backfill).
 * - types: row numbers are `INTEGER … AUTOINCREMENT` or `BIGINT … IDENTITY`; ids sort bytewise
 *   (SQLite's BINARY collation, `COLLATE "C"` in PostgreSQL). Times are TEXT (ISO 8601) or BIGINT
 *   epoch milliseconds and JSON is TEXT in both, so neither needs a dialect.
 * - the append-only trigger on history, and which errors mean a lost race (retried at once).
 *   Which failures are worth retrying later is one list for both: ./errors.ts.
 */
import {
  DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, sql,
  type ColumnDefinitionBuilder, type CreateTableBuilder, type Expression, type RawBuilder, type SelectQueryBuilder,
} from 'kysely'
import type { Database } from './schema.ts'

export type DialectName = 'sqlite' | 'postgres'

export interface Dialect {
  readonly name: DialectName
  /** Builds and compiles queries only; a runner (./run.ts) executes them. */
  readonly db: Kysely<Database>
  /** Locks the selected rows until the transaction ends. */
  lock<DB, TB extends keyof DB, O>(qb: SelectQueryBuilder<DB, TB, O>, mode: 'update' | 'share' | 'update skip locked'): SelectQueryBuilder<DB, TB, O>
  greatest(a: Expression<number>, b: Expression<number>): RawBuilder<number>
  /**
   * Rows of values as a table `alias(column1, column2, …)` for a batch statement: a VALUES list in
   * SQLite; in PostgreSQL one array per column through unnest, which binds a few parameters
   * instead of one per value and gives the columns their types.
   */
  rows(alias: string, rows: ReadonlyArray<readonly unknown[]>, types: ReadonlyArray<'text' | 'bigint'>): RawBuilder<unknown>
  /**
   * What a statement's text depends on in `rows`: the row count in SQLite (one `(?, …)` per row),
   * nothing in PostgreSQL (one array per column); and the values `rows` binds, in order. With
   * both, a batch statement is compiled once per shape instead of once per call.
   */
  rowsShape(count: number): number
  rowsParams(rows: ReadonlyArray<readonly unknown[]>, columns: number): unknown[]
  /** Statements that make outbox row numbers follow commit order (see ./events.ts enqueue). */
  readonly outboxOrder: readonly string[]
  /** A table's `n` column: an increasing row number. */
  serial<T extends string>(t: CreateTableBuilder<T, never>): CreateTableBuilder<T, 'n'>
  /** A top-level field of a JSON text column, as text (null when absent). */
  jsonField(column: string, key: string): RawBuilder<string | null>
  /** Text compared bytewise (ids that page by `id >`). */
  readonly idText: RawBuilder<unknown>
  /** Statements that make a table refuse UPDATE and DELETE. */
  appendOnly(table: string): string[]
  /** A statement answering one row when the table exists (in the current schema), none otherwise. */
  tableExists(name: string): { sql: string; params: readonly unknown[] }
  /** Statements run around migrating; PostgreSQL serialises migrating processes. */
  readonly migrationLock: { take: string[]; release: string[] }
  /** Lost races (serialization failure, deadlock): the transaction may simply run again. */
  isRace(err: unknown): boolean
}

function compileOnly(adapter: () => SqliteAdapter | PostgresAdapter, compiler: () => SqliteQueryCompiler | PostgresQueryCompiler, pg: boolean): Kysely<Database> {
  return new Kysely<Database>({
    dialect: {
      createAdapter: adapter,
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => (pg ? new PostgresIntrospector(db) : new SqliteIntrospector(db)),
      createQueryCompiler: compiler,
    },
  })
}

const code = (err: unknown): string => String((err as { code?: unknown } | null)?.code ?? '')

export const sqlite: Dialect = {
  name: 'sqlite',
  db: compileOnly(() => new SqliteAdapter(), () => new SqliteQueryCompiler(), false),
  lock: (qb) => qb,
  greatest: (a, b) => sql<number>`max(${a}, ${b})`,
  rows: (alias, rows) => sql`(values ${sql.join(rows.map((r) => sql`(${sql.join(r)})`))}) as ${sql.raw(alias)}`,
  rowsShape: (count) => count,
  rowsParams: (rows) => rows.flat(),
  outboxOrder: [],
  serial: (t) => t.addColumn('n', 'integer', (c) => c.primaryKey().autoIncrement()),
  idText: sql`text`,
  jsonField: (column, key) => sql<string | null>`json_extract(${sql.ref(column)}, ${'$.' + key})`,
  appendOnly: (table) => [
    `CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table} BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END`,
    `CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table} BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END`,
  ],
  tableExists: (name) => ({ sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", params: [name] }),
  migrationLock: { take: [], release: [] },
  isRace: () => false,
}

/** Arbitrary constants: the advisory locks of migrating processes and of outbox inserts. */
const MIGRATION_LOCK = 0x666f7265
const OUTBOX_LOCK = 0x6f757478

export const postgres: Dialect = {
  name: 'postgres',
  db: compileOnly(() => new PostgresAdapter(), () => new PostgresQueryCompiler(), true),
  lock: (qb, mode) => (mode === 'share' ? qb.forShare() : mode === 'update' ? qb.forUpdate() : qb.forUpdate().skipLocked()),
  greatest: (a, b) => sql<number>`greatest(${a}, ${b})`,
  rows: (alias, rows, types) => sql`unnest(${sql.join(types.map((t, i) => sql`cast(${rows.map((r) => r[i])} as ${sql.raw(t)}[])`))})
    as ${sql.raw(alias)}(${sql.raw(types.map((_, i) => `column${i + 1}`).join(', '))})`,
  rowsShape: () => 0,
  rowsParams: (rows, columns) => Array.from({ length: columns }, (_, i) => rows.map((r) => r[i])),
  outboxOrder: [`SELECT pg_advisory_xact_lock(${OUTBOX_LOCK})`],
  serial: (t) => t.addColumn('n', 'bigint', (c: ColumnDefinitionBuilder) => c.primaryKey().generatedAlwaysAsIdentity()),
  idText: sql`text collate "C"`,
  jsonField: (column, key) => sql<string | null>`(cast(${sql.ref(column)} as json) ->> ${key})`,
  appendOnly: (table) => [
    `CREATE OR REPLACE FUNCTION ${table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${table} is append-only'; END $$`,
    `CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_append_only()`,
    `CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_append_only()`,
  ],
  // to_regclass resolves the name along search_path, as the store's own statements do.
  tableExists: (name) => ({ sql: 'SELECT relname FROM pg_class WHERE oid = to_regclass($1)', params: [name] }),
  migrationLock: { take: [`SELECT pg_advisory_lock(${MIGRATION_LOCK})`], release: [`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`] },
  isRace: (err) => ['40001', '40P01'].includes(code(err)),
}

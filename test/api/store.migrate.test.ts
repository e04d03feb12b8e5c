/**
 * Databases written by the release before the one store (each database had its own migrations)
 * open with today's code without losing anything: every answer the old store gave about its
 * records is given again, logins and keys still verify, the hash chains still verify, new writes
 * continue them, and the schema ends up as a fresh database's. Fixtures: fixtures/legacy/README.md.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'libsql'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../../api/store/index.ts'
import { asyncStore, type AsyncRecordsStore } from '../../api/store/open.ts'
import { openPostgresStore } from '../../api/store/postgres.ts'
import { describeService } from '../services/availability.ts'
import { startPostgres, type PostgresService } from '../services/postgres.ts'
import { event, fridge } from './fixtures.ts'
import { T0, answers, type Made } from './fixtures/legacy/records.ts'

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'legacy', name), 'utf8')
const expected = (name: string) => JSON.parse(fixture(name)) as { made: Made; answers: Record<string, unknown> }
const opts = { now: () => T0, deliveryAdapters: ['rt'] }

/** What a migrated store must still do after answering as the old one did. */
async function continues(s: AsyncRecordsStore, made: Made): Promise<void> {
  const later = await s.applyDetectorEvent(event(made.deviceId, { faultCode: 'REF-DOOR', component: 'door_seal', episodeId: `${made.deviceId}:REF-DOOR:1`, severity: 'critical' }), T0)
  expect(later.applied).toBe(true)
  expect(await s.verifyHistory(made.deviceId)).toMatchObject({ ok: true })
  expect((await s.listOutbox({ limit: 100 })).items.at(-1)?.payload.id).toBe(later.ticket?.id)
  // Tables added since (the console's recent window) work on the taken-over database.
  const shape = { bucketMs: 3_600_000, buckets: 24 }
  expect(await s.addToWindow([{ deviceId: made.deviceId, startMs: T0, means: { cabinet_temp_c: [4, 2] } }], shape)).toBe(1)
  expect(await s.recentWindow(made.deviceId, shape)).toEqual([{ startMs: T0, means: { cabinet_temp_c: [4, 2] } }])
}

const healthCore = (status: 'watch' | 'critical' | 'healthy') => ({ overall: 50, status, components: {}, usage: { runningHours: 1, cycles: 1, doorOpenings: 0 }, lastEventTime: T0, warmingUp: false })

/** Three devices with health records (watch, critical, healthy) and one without. */
async function healthRows(s: AsyncRecordsStore): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < 4; i++) ids.push((await s.createDevice({ ...fridge, serial: `m4-${i}` })).device.id)
  await s.saveHealthBatch([[ids[0]!, healthCore('watch')], [ids[1]!, healthCore('critical')], [ids[2]!, healthCore('healthy')]])
  return ids
}

const columnOf = (rows: unknown[]) => Object.fromEntries((rows as { device_id: string; status: string | null }[]).map((r) => [r.device_id, r.status]))
const backfilled = (ids: string[]) => ({ [ids[0]!]: 'watch', [ids[1]!]: 'critical', [ids[2]!]: 'healthy' })

/** Back to the schema before migration 4: the health rows keep their records, lose the column. */
const beforeMigration4 = 'ALTER TABLE health DROP COLUMN status; DELETE FROM store_migrations WHERE id = 4'

describe('a SQLite data directory from before the one store', () => {
  const dirs: string[] = []
  afterEach(() => { while (dirs.length > 0) rmSync(dirs.pop()!, { recursive: true, force: true }) })

  function legacyDir(edit = ''): string {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-legacy-'))
    dirs.push(dir)
    const db = new Database(join(dir, 'forewarn.db'))
    db.exec(fixture('sqlite.sql') + edit)
    db.close()
    return dir
  }
  const schema = (dir: string) => {
    const db = new Database(join(dir, 'forewarn.db'))
    try {
      return db.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY type, name").all()
    } finally {
      db.close()
    }
  }

  it('migrates forward: every record answers as before, the version is recorded, writes continue', async () => {
    const { made, answers: before } = expected('sqlite.json')
    const dir = legacyDir()
    const s = asyncStore(openStore({ dataDir: dir, ...opts }))
    try {
      expect(await answers(s, made)).toEqual(before)
      await continues(s, made)
    } finally {
      await s.close()
    }
    const db = new Database(join(dir, 'forewarn.db'))
    expect(db.prepare('SELECT id, name FROM store_migrations ORDER BY id').all().map((r) => Object.values(r as object))).toEqual([
      [1, expect.stringContaining('taken over from schema_migrations 5')], [2, 'the same partial indexes on both databases'],
      [3, "the console's recent telemetry window"], [4, "each health record's detector status in a column of its own"],
    ])
    db.close()
    // Opening again applies nothing; the schema is the one a fresh database gets.
    openStore({ dataDir: dir }).close()
    const fresh = mkdtempSync(join(tmpdir(), 'forewarn-fresh-'))
    dirs.push(fresh)
    openStore({ dataDir: fresh }).close()
    expect(schema(dir)).toEqual(schema(fresh))
  })

  it('health records written before the status column read their status after migration 4 (backfilled from the record)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-m4-'))
    dirs.push(dir)
    const a = asyncStore(openStore({ dataDir: dir, ...opts }))
    const ids = await healthRows(a)
    await a.close()
    const db = new Database(join(dir, 'forewarn.db'))
    db.exec(beforeMigration4)
    db.close()
    const b = asyncStore(openStore({ dataDir: dir, ...opts }))
    try {
      expect(await b.healthStatuses()).toEqual({ [ids[0]!]: 'watch', [ids[1]!]: 'critical', [ids[2]!]: 'healthy', [ids[3]!]: 'healthy' })
    } finally {
      await b.close()
    }
    const after = new Database(join(dir, 'forewarn.db'))
    expect(columnOf(after.prepare('SELECT device_id, status FROM health').all())).toEqual(backfilled(ids))
    after.close()
  })

  it('refuses a database its own release had not finished migrating, and changes nothing', () => {
    const dir = legacyDir('DELETE FROM schema_migrations WHERE id = 5;')
    expect(() => openStore({ dataDir: dir })).toThrow(expect.objectContaining({ code: 'FOREWARN_ERR_STORE' }))
    try {
      openStore({ dataDir: dir })
    } catch (err) {
      expect(String((err as Error).cause)).toMatch(/schema_migrations 4 of 5/)
    }
    const db = new Database(join(dir, 'forewarn.db'))
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'store_migrations'").all()).toEqual([])
    db.close()
  })
})

describeService('postgres', 'a PostgreSQL database from before the one store', () => {
  let server: PostgresService
  let admin: pg.Client
  let n = 0
  beforeAll(async () => {
    server = await startPostgres()
    admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
  }, 60_000)
  afterAll(async () => {
    await admin?.end()
    await server?.stop()
  })

  async function database(dump?: string): Promise<string> {
    const name = `legacy${++n}`
    await admin.query(`CREATE DATABASE ${name}`)
    const url = server.url.replace(/\/postgres$/, `/${name}`)
    if (dump !== undefined) {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      // psql meta-commands (\restrict) are not SQL.
      try { await c.query(dump.split('\n').filter((l) => !l.startsWith('\\')).join('\n')) } finally { await c.end() }
    }
    return url
  }
  async function query(url: string, sql: string): Promise<unknown[]> {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try { return (await c.query(sql)).rows } finally { await c.end() }
  }
  const schema = (url: string) => query(url, `SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE s.nspname = 'public' AND c.relkind IN ('r', 'i') AND c.relname NOT LIKE 'schema_migrations%' ORDER BY 1, 2`)

  it('migrates forward: every record answers as before, the version is recorded, writes continue', async () => {
    const { made, answers: before } = expected('postgres.json')
    const url = await database(fixture('postgres.sql'))
    const s = await openPostgresStore({ databaseUrl: url, ...opts })
    try {
      expect(await answers(s, made)).toEqual(before)
      await continues(s, made)
    } finally {
      await s.close()
    }
    expect(await query(url, 'SELECT id, name FROM store_migrations ORDER BY id')).toEqual([
      { id: 1, name: expect.stringContaining('taken over from schema_migrations 3') }, { id: 2, name: 'the same partial indexes on both databases' },
      { id: 3, name: "the console's recent telemetry window" }, { id: 4, name: "each health record's detector status in a column of its own" },
    ])
    await (await openPostgresStore({ databaseUrl: url })).close()
    const fresh = await database()
    await (await openPostgresStore({ databaseUrl: fresh })).close()
    expect(await schema(url)).toEqual(await schema(fresh))
  })

  it('health records written before the status column read their status after migration 4 (backfilled from the record)', async () => {
    const url = await database()
    const a = await openPostgresStore({ databaseUrl: url, ...opts })
    const ids = await healthRows(a)
    await a.close()
    await query(url, beforeMigration4)
    const b = await openPostgresStore({ databaseUrl: url, ...opts })
    try {
      expect(await b.healthStatuses()).toEqual({ [ids[0]!]: 'watch', [ids[1]!]: 'critical', [ids[2]!]: 'healthy', [ids[3]!]: 'healthy' })
    } finally {
      await b.close()
    }
    expect(columnOf(await query(url, 'SELECT device_id, status FROM health'))).toEqual(backfilled(ids))
  })

  it('refuses a database its own release had not finished migrating', async () => {
    const url = await database(fixture('postgres.sql'))
    await query(url, 'DELETE FROM schema_migrations WHERE id = 3')
    await expect(openPostgresStore({ databaseUrl: url })).rejects.toMatchObject({ code: 'FOREWARN_ERR_STORE', message: expect.stringMatching(/schema_migrations 2 of 3/) })
  })
})

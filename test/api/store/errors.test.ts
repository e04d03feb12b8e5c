/**
 * api/store/errors.ts: real failures of both stores, classified. Transient: a PostgreSQL server
 * that refuses connections, a SQLite write lock held by another connection, a full disk (when
 * a tmpfs can be mounted). Not transient: a constraint the data breaks, the store's own verdicts.
 */
import Database from 'libsql'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { isTransientStoreFailure, toStoreError } from '../../../api/store/errors.ts'
import { ErrorCode, ForewarnError } from '../../../domain/index.ts'
import { freePort } from '../../services/process.ts'
import { mountSmallDisk, tmpfsAvailable } from '../../services/tmpfs.ts'

const dir = mkdtempSync(join(tmpdir(), 'forewarn-store-errors-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function caught(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a failure')
}

describe('store error classification', () => {
  it('a PostgreSQL server that refuses connections is transient', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: await freePort(), connectionTimeoutMillis: 2000 })
    const err = await client.connect().then(() => null, (e: unknown) => e)
    expect((err as { code?: string }).code).toBe('ECONNREFUSED')
    expect(isTransientStoreFailure(err)).toBe(true)
    expect(toStoreError(err, 'x')).toMatchObject({ code: ErrorCode.STORE, retriable: true })
  })

  it('a SQLite write lock held elsewhere (SQLITE_BUSY) is transient; a broken constraint is not', () => {
    const path = join(dir, 'busy.db')
    const a = new Database(path)
    a.exec('PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY)')
    const b = new Database(path)
    b.pragma('busy_timeout = 0')
    a.exec('BEGIN IMMEDIATE')
    const busy = caught(() => b.prepare('INSERT INTO t (id) VALUES (1)').run())
    a.exec('ROLLBACK')
    expect((busy as { code?: string }).code).toMatch(/^SQLITE_BUSY/)
    expect(isTransientStoreFailure(busy)).toBe(true)
    b.prepare('INSERT INTO t (id) VALUES (1)').run()
    const constraint = caught(() => b.prepare('INSERT INTO t (id) VALUES (1)').run())
    expect((constraint as { code?: string }).code).toMatch(/^SQLITE_CONSTRAINT/)
    expect(isTransientStoreFailure(constraint)).toBe(false)
    a.close()
    b.close()
  })

  it.runIf(tmpfsAvailable())('a full disk (SQLITE_FULL) is transient, also when it surfaces as a failed ROLLBACK', () => {
    const disk = mountSmallDisk(1)
    try {
      const db = new Database(join(disk.dir, 'full.db'))
      db.exec('CREATE TABLE t (x TEXT)')
      disk.fill()
      const insert = db.prepare('INSERT INTO t (x) VALUES (?)')
      const full = caught(() => { for (let i = 0; i < 10_000; i++) insert.run('x'.repeat(4000)) })
      expect((full as { code?: string }).code).toBe('SQLITE_FULL')
      expect(isTransientStoreFailure(full)).toBe(true)
      const many = db.transaction(() => { for (let i = 0; i < 10_000; i++) insert.run('x'.repeat(4000)) })
      const inTx = caught(() => many.immediate())
      expect(isTransientStoreFailure(inTx)).toBe(true)
      expect(toStoreError(inTx, 'saving').message).toMatch(/SQLITE_FULL|disk is full|disk full, I\/O error or busy/)
      db.close()
    } finally {
      disk.unmount()
    }
  })

  it("the store's own verdicts keep their code and are not retriable", () => {
    const verdict = new ForewarnError(ErrorCode.UNKNOWN_DEVICE, 'unknown device d1')
    expect(isTransientStoreFailure(verdict)).toBe(false)
    expect(toStoreError(verdict, 'x')).toBe(verdict)
  })
})

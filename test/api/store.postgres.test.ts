/**
 * The PostgreSQL store against a real PostgreSQL 15 started for this file: the store contract plus
 * what only a shared server can show (two store instances racing, two outbox workers sharing one
 * table, a restart that keeps everything). One server for the file, one fresh schema per test.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgresStore } from '../../api/store/postgres.ts'
import { openConfiguredStore, type AsyncRecordsStore } from '../../api/store/open.ts'
import { describeService } from '../services/availability.ts'
import { startPostgres, type PostgresService } from '../services/postgres.ts'
import { storeContract } from './store.contract.ts'
import { event, fridge } from './fixtures.ts'

describeService('postgres', 'PostgreSQL store', () => {
  let server: PostgresService
  let admin: pg.Client
  let schemas = 0
  const urls = new Map<object, string>()

  beforeAll(async () => {
    server = await startPostgres()
    admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
  }, 60_000)
  afterAll(async () => {
    await admin?.end()
    await server?.stop()
  })

  /** A URL whose connections live in a schema of their own: a fresh, empty database for one test. */
  async function freshUrl(): Promise<string> {
    const schema = `t${++schemas}`
    await admin.query(`CREATE SCHEMA ${schema}`)
    return `${server.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`
  }

  const sqlIn = async (store: object, sql: string) => {
    const c = new pg.Client({ connectionString: urls.get(store)! })
    await c.connect()
    try { await c.query(sql) } finally { await c.end() }
  }

  storeContract('postgres', async (opts) => {
    const url = await freshUrl()
    const store = await openPostgresStore({ ...opts, databaseUrl: url, poolSize: 4 })
    urls.set(store, url)
    return store
  }, {
    exec: sqlIn,
    dropGuard: (store) => sqlIn(store, 'DROP TRIGGER history_no_update ON history; DROP TRIGGER history_no_delete ON history'),
  })

  describe('shared by several processes', () => {
    const opened: AsyncRecordsStore[] = []
    const open = async (url: string, over: Partial<Parameters<typeof openPostgresStore>[0]> = {}) => {
      const s = await openPostgresStore({ databaseUrl: url, poolSize: 4, deliveryAdapters: ['rt'], ...over })
      opened.push(s)
      return s
    }
    afterAll(async () => { await Promise.all(opened.map((s) => s.close())) })

    it('two instances migrating at once agree; the same event from both is applied once', async () => {
      const url = await freshUrl()
      const [a, b] = await Promise.all([open(url), open(url)])
      const { device, credentials } = await a.createDevice(fridge)
      // One server secret for both: a password made by one verifies on the other.
      expect((await b.verifyDeviceCredentials(device.id, Buffer.from(credentials.password)))?.id).toBe(device.id)
      const ev = event(device.id)
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).applyDetectorEvent(ev, Date.now())))
      expect(results.filter((r) => r.applied).length).toBe(1)
      expect(results.filter((r) => r.ticketCreated).length).toBe(1)
      expect((await b.listOutbox({ limit: 10 })).items.map((o) => o.adapter)).toEqual(['feed', 'rt'])
      expect(await a.verifyHistory(device.id)).toEqual({ ok: true, entries: 3 })
      const keys = await Promise.all([a.ensureAdminKey(), b.ensureAdminKey()])
      expect(keys.filter((k) => k.key !== null).length).toBe(1)
    })

    it('events of many devices in parallel keep every hash chain whole', async () => {
      const s = await open(await freshUrl())
      const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => s.createDevice({ ...fridge, serial: `P${i}` }).then((r) => r.device.id)))
      const t0 = Date.now()
      await Promise.all(ids.flatMap((id) => [
        s.applyDetectorEvent(event(id), t0),
        s.applyDetectorEvent(event(id, { faultCode: 'REF-CFAN', component: 'condenser_fan', episodeId: `${id}:REF-CFAN:1` }), t0),
        s.applyDetectorEvent(event(id, { kind: 'warning.escalated', severity: 'critical' }), t0),
      ]))
      for (const id of ids) {
        expect(await s.verifyHistory(id)).toMatchObject({ ok: true })
        expect((await s.listTickets({ limit: 10, deviceId: id })).items.length).toBe(1)
      }
      // Feed rows are numbered in commit order: n increases with no reader ever seeing a gap fill later.
      const feed = (await s.listOutbox({ limit: 1000, adapter: 'feed' })).items
      expect(feed.length).toBeGreaterThanOrEqual(ids.length)
    })

    it('two workers claiming at once never take the same job (FOR UPDATE SKIP LOCKED)', async () => {
      const url = await freshUrl()
      const [a, b] = await Promise.all([open(url), open(url)])
      const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => a.createDevice({ ...fridge, serial: `W${i}` }).then((r) => r.device.id)))
      const t0 = Date.now()
      for (const id of ids) await a.applyDetectorEvent(event(id), t0)
      const at = Date.now() + 1000
      const pa = a.outboxPort({ leaseMs: 60_000 })
      const pb = b.outboxPort({ leaseMs: 60_000 })
      const claimed: string[] = []
      for (let round = 0; round < 6; round++) {
        const [x, y] = await Promise.all([pa.claimDue(at, 3), pb.claimDue(at, 3)])
        claimed.push(...x.map((j) => j.id), ...y.map((j) => j.id))
      }
      expect(claimed.length).toBe(12)
      expect(new Set(claimed).size).toBe(12)
      expect(await pa.claimDue(at + 59_999, 100)).toEqual([])
      expect((await pb.claimDue(at + 60_000, 100)).length).toBe(12)
    })

    it('a claim skips the jobs another worker holds locked instead of waiting for them', async () => {
      const url = await freshUrl()
      const a = await open(url)
      const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => a.createDevice({ ...fridge, serial: `L${i}` }).then((r) => r.device.id)))
      for (const id of ids) await a.applyDetectorEvent(event(id), Date.now())
      const at = Date.now() + 1000
      const other = new pg.Client({ connectionString: url })
      await other.connect()
      try {
        await other.query('BEGIN')
        const held = (await other.query<{ id: string }>("SELECT id FROM outbox WHERE adapter = 'rt' ORDER BY n LIMIT 2 FOR UPDATE")).rows.map((r) => r.id)
        const timeout = new Promise<'blocked'>((resolve) => { setTimeout(() => resolve('blocked'), 2000).unref() })
        const got = await Promise.race([a.outboxPort().claimDue(at, 100), timeout])
        expect(got).not.toBe('blocked')
        const claimed = (got as Array<{ id: string }>).map((j) => j.id)
        expect(claimed.length).toBe(4)
        expect(claimed.filter((id) => held.includes(id))).toEqual([])
        await other.query('COMMIT')
        expect((await a.outboxPort().claimDue(at, 100)).map((j) => j.id)).toEqual(held)
      } finally {
        await other.end()
      }
    })

    it('everything survives closing and reopening the store', async () => {
      const url = await freshUrl()
      const a = await openPostgresStore({ databaseUrl: url })
      const { device, credentials } = await a.createDevice(fridge)
      const { key } = await a.ensureAdminKey()
      const applied = await a.applyDetectorEvent(event(device.id), Date.now())
      await a.close()
      await a.close()
      const b = await open(url)
      expect(await b.getDevice(device.id)).toEqual(device)
      expect((await b.verifyDeviceCredentials(device.id, Buffer.from(credentials.password)))?.id).toBe(device.id)
      expect((await b.authenticateApiKey(key!))?.scopes).toEqual(['*'])
      expect(await b.getTicket(applied.ticket!.id)).toEqual(applied.ticket)
      expect((await b.applyDetectorEvent(event(device.id), Date.now())).applied).toBe(false)
      expect(await b.verifyHistory(device.id)).toEqual({ ok: true, entries: 3 })
    })
  })

  describe('openConfiguredStore', () => {
    it('opens PostgreSQL for a DATABASE_URL and the embedded store without one', async () => {
      const url = await freshUrl()
      const p = await openConfiguredStore({ databaseUrl: url, dataDir: null })
      const s = await openConfiguredStore({ databaseUrl: '', dataDir: null })
      try {
        const { device } = await p.createDevice(fridge)
        expect(await p.getDevice(device.id)).toEqual(device)
        expect(await s.getDevice(device.id)).toBeNull()
        expect(await admin.query(`SELECT id FROM ${url.match(/search_path%3D(\w+)/)![1]}.devices`).then((r) => r.rows)).toEqual([{ id: device.id }])
      } finally {
        await p.close()
        await s.close()
      }
    })

    it('a server that does not answer is a retriable STORE error', async () => {
      await expect(openConfiguredStore({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none', dataDir: null })).rejects.toMatchObject({
        code: 'FOREWARN_ERR_STORE', retriable: true,
      })
    })
  })
})

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'libsql'
import { openStore } from '../../api/store/index.ts'
import { asyncStore } from '../../api/store/open.ts'
import { storeContract } from './store.contract.ts'
import { event, fridge } from './fixtures.ts'

// Raw SQL goes through a second connection to the same file, as a tamperer would.
const dirs = new Map<object, string>()
const sqlOnFile = async (store: object, sql: string) => {
  const db = new Database(join(dirs.get(store)!, 'forewarn.db'))
  try { db.exec(sql) } finally { db.close() }
}
storeContract('sqlite file', async (opts) => {
  const dir = mkdtempSync(join(tmpdir(), 'forewarn-store-'))
  const store = asyncStore(openStore({ ...opts, dataDir: dir }))
  dirs.set(store, dir)
  const close = store.close
  store.close = async () => { await close(); rmSync(dir, { recursive: true, force: true }) }
  return store
}, {
  exec: sqlOnFile,
  dropGuard: (store) => sqlOnFile(store, 'DROP TRIGGER history_no_update; DROP TRIGGER history_no_delete'),
})

storeContract('sqlite memory', async (opts) => asyncStore(openStore({ ...opts, dataDir: null })))

describe('sqlite file store', () => {
  const cleanup: Array<() => void> = []
  afterEach(() => { while (cleanup.length > 0) cleanup.pop()!() })

  it('a warning and ticket stored before hours were rounded read with hours to one decimal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-rul-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    const a = openStore({ dataDir: dir })
    const { device } = a.createDevice(fridge)
    const { warning, ticket } = a.applyDetectorEvent(event(device.id), Date.now())
    a.close()
    const raw = JSON.stringify({ medianHours: 68.60260276493919, lowHours: 47.04, highHours: 99.95 })
    const db = new Database(join(dir, 'forewarn.db'))
    db.prepare('UPDATE warnings SET rul = ? WHERE id = ?').run([raw, warning.id])
    db.prepare("UPDATE tickets SET record = json_set(record, '$.rul', json(?)) WHERE id = ?").run([raw, ticket!.id])
    db.close()
    const b = openStore({ dataDir: dir })
    const want = { medianHours: 68.6, lowHours: 47, highHours: 100 }
    expect([b.getWarning(warning.id)?.rul, b.getTicket(ticket!.id)?.rul]).toEqual([want, want])
    b.close()
  })

  it('keeps devices, health, warnings, tickets, keys and history across close and reopen', () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-persist-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    const a = openStore({ dataDir: dir })
    const { device, credentials } = a.createDevice(fridge)
    const { key } = a.ensureAdminKey()
    a.saveHealth(device.id, { overall: 80, status: 'healthy', components: {}, usage: { runningHours: 1, cycles: 2, doorOpenings: 3 }, lastEventTime: 9, warmingUp: false })
    const applied = a.applyDetectorEvent(event(device.id), Date.now())
    a.close()

    const b = openStore({ dataDir: dir })
    cleanup.push(() => b.close())
    expect(b.getDevice(device.id)).toEqual(device)
    expect(b.verifyDeviceCredentials(device.id, Buffer.from(credentials.password))?.id).toBe(device.id)
    expect(b.authenticateApiKey(key!)?.scopes).toEqual(['*'])
    expect(b.ensureAdminKey().key).toBeNull()
    expect(b.getHealthRecord(device.id)?.health?.overall).toBe(80)
    expect(b.getTicket(applied.ticket!.id)).toEqual(applied.ticket)
    expect(b.applyDetectorEvent(event(device.id), Date.now()).applied).toBe(false)
    expect(b.counts()).toEqual({ devices: 1, online: 0, activeWarnings: 1, tickets: 1, openTickets: 1, pendingDeliveries: 0, deadDeliveries: 0 })
    expect(b.verifyHistory(device.id)).toEqual({ ok: true, entries: 3 })
  })
})

describe('sqlite outbox as the delivery port', () => {
  it('one job per adapter per ticket change; the real worker delivers, retries and dead-letters them', async () => {
    const { createDeliveryWorker } = await import('../../api/delivery/worker.ts')
    const { ErrorCode, ForewarnError } = await import('../../domain/index.ts')
    let clock = Date.parse('2026-01-01T00:00:00Z')
    const store = openStore({ dataDir: null, deliveryAdapters: ['ok', 'flaky'], now: () => clock })
    try {
      const { device } = store.createDevice(fridge)
      const t = store.applyDetectorEvent(event(device.id), clock).ticket!
      expect(store.listOutbox({ limit: 10 }).items.map((o) => o.adapter)).toEqual(['feed', 'ok', 'flaky'])
      const port = store.outboxPort({ leaseMs: 1000 })
      expect(port.claimDue(clock, 10).map((j) => j.adapter)).toEqual(['ok', 'flaky'])
      expect(port.claimDue(clock, 10)).toEqual([]) // leased
      clock += 1000
      const delivered: string[] = []
      const worker = createDeliveryWorker({
        outbox: port, maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1, pollMs: 10, now: () => clock, random: () => 0,
        adapters: [
          { name: 'ok', deliver: async (tk, ctx) => { delivered.push(`${tk.id}/${ctx.idempotencyKey}`); return { externalRef: 'RT-7' } } },
          { name: 'flaky', deliver: async () => { throw new ForewarnError(ErrorCode.DELIVERY, 'down', { retriable: true }) } },
        ],
      })
      await worker.runOnce()
      clock += 1000
      await worker.runOnce()
      const rows = store.listOutbox({ limit: 10 }).items
      expect(rows.map((o) => [o.adapter, o.state])).toEqual([['feed', 'pending'], ['ok', 'delivered'], ['flaky', 'dead']])
      expect(rows[1]!.externalRef).toBe('RT-7')
      expect(delivered).toEqual([`${t.id}/${rows[1]!.id}`])
      const dead = port.listDead(10)
      expect(dead.items.map((j) => [j.adapter, j.lastError])).toEqual([['flaky', expect.stringContaining('down')]])
      expect(port.replayDead(dead.items[0]!.id)).toBe(true)
      expect(port.replayDead(dead.items[0]!.id)).toBe(false)
      expect(port.claimDue(clock, 10).map((j) => [j.adapter, j.attempts])).toEqual([['flaky', 0]])
    } finally {
      store.close()
    }
  })
})

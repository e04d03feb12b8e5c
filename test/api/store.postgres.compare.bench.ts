/**
 * The PostgreSQL store of this checkout against another checkout's, on one throw-away local
 * server (fsync off), in interleaved rounds so both see the same machine load; median of the rounds.
 *
 *   npx tsx test/api/store.postgres.compare.bench.ts OTHER_CHECKOUT [rounds]
 */
import { resolve } from 'node:path'
import pg from 'pg'
import type { AsyncRecordsStore } from '../../api/store/open.ts'
import { openPostgresStore, type PostgresStoreOptions } from '../../api/store/postgres.ts'
import { startPostgres } from '../services/postgres.ts'
import { event, fridge } from './fixtures.ts'

const other = process.argv[2]
if (other === undefined) throw new Error('usage: store.postgres.compare.bench.ts OTHER_CHECKOUT [rounds]')
const rounds = Number(process.argv[3] ?? 3)
type Open = (o: PostgresStoreOptions) => Promise<AsyncRecordsStore>
const theirs = (await import(resolve(other, 'api/store/postgres.ts'))) as { openPostgresStore: Open }
const sides: Record<string, Open> = { other: theirs.openPostgresStore, this: openPostgresStore }
const core = { overall: 80, status: 'healthy' as const, components: { compressor: { score: 80, reason: 'ok' } }, usage: { runningHours: 1, cycles: 2, doorOpenings: 3 }, lastEventTime: 1, warmingUp: false }
const DEVICES = 100

const server = await startPostgres()
const admin = new pg.Client({ connectionString: server.url })
await admin.connect()
let dbs = 0
const samples: Record<string, Record<string, number[]>> = { other: {}, this: {} }
try {
  for (let r = 0; r < rounds + 1; r++) {
    for (const [name, open] of Object.entries(sides)) {
      const db = `bench${++dbs}`
      await admin.query(`CREATE DATABASE ${db}`)
      const s = await open({ databaseUrl: server.url.replace(/\/postgres$/, `/${db}`), poolSize: 8, deliveryAdapters: ['rt'] })
      const out: Record<string, number> = {}
      const time = async (label: string, n: number, fn: () => Promise<unknown>) => {
        const t = performance.now()
        await fn()
        out[label] = (performance.now() - t) / n
      }
      const ids: string[] = []
      await time('createDevice', DEVICES, async () => { for (let i = 0; i < DEVICES; i++) ids.push((await s.createDevice({ ...fridge, serial: `S${i}` })).device.id) })
      await time('saveHealthBatch, per device', DEVICES * 10, async () => { for (let k = 0; k < 10; k++) await s.saveHealthBatch(ids.map((id) => [id, core] as const)) })
      await time('applyDetectorEvent, new ticket', DEVICES, async () => { for (const id of ids) await s.applyDetectorEvent(event(id), Date.now()) })
      await time('applyDetectorEvent, escalation', DEVICES, async () => { for (const id of ids) await s.applyDetectorEvent(event(id, { kind: 'warning.escalated', severity: 'critical' }), Date.now()) })
      await time('applyDetectorEvent, replay, 8 in flight', DEVICES, () => Promise.all(ids.map((id) => s.applyDetectorEvent(event(id), Date.now()))))
      await time('touchDevices, per device', DEVICES * 10, async () => { for (let k = 0; k < 10; k++) await s.touchDevices(ids.map((id) => [id, Date.now()] as const)) })
      const pw = (await s.rotateCredentials(ids[0]!)).password
      await time('verifyDeviceCredentials', 1000, async () => { for (let i = 0; i < 1000; i++) await s.verifyDeviceCredentials(ids[0]!, Buffer.from(pw)) })
      await s.close()
      if (r === 0) continue // warm-up
      for (const [k, v] of Object.entries(out)) (samples[name]![k] ??= []).push(v)
    }
  }
} finally {
  await admin.end()
  await server.stop()
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`| PostgreSQL, ms per operation (median of ${rounds}) | ${other} | this checkout | this / other |`)
console.log('|---|---:|---:|---:|')
for (const k of Object.keys(samples.this!)) {
  const a = median(samples.other![k]!)
  const b = median(samples.this![k]!)
  console.log(`| ${k} | ${a.toFixed(4)} | ${b.toFixed(4)} | ${(b / a).toFixed(2)} |`)
}

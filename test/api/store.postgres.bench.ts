/** PostgreSQL store costs on a throw-away local server (fsync off). Run: npx tsx test/api/store.postgres.bench.ts */
import { openPostgresStore } from '../../api/store/postgres.ts'
import { startPostgres } from '../services/postgres.ts'
import { event, fridge } from './fixtures.ts'

const server = await startPostgres()
try {
  const s = await openPostgresStore({ databaseUrl: server.url, poolSize: 8 })
  const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => s.createDevice({ ...fridge, serial: `S${i}` }).then((r) => r.device.id)))
  const core = { overall: 80, status: 'healthy' as const, components: { compressor: { score: 80, reason: 'ok' } }, usage: { runningHours: 1, cycles: 2, doorOpenings: 3 }, lastEventTime: 1, warmingUp: false }
  const time = async (label: string, n: number, fn: () => Promise<unknown>) => {
    const t = performance.now()
    await fn()
    console.log(label, ((performance.now() - t) / n).toFixed(3))
  }
  await time('saveHealthBatch(200) ms per device', 2000, async () => { for (let r = 0; r < 10; r++) await s.saveHealthBatch(ids.map((id) => [id, core] as const)) })
  await time('applyDetectorEvent (new ticket, sequential) ms/op', ids.length, async () => { for (const id of ids) await s.applyDetectorEvent(event(id), Date.now()) })
  await time('applyDetectorEvent (replay, 8 in flight) ms/op', ids.length, () => Promise.all(ids.map((id) => s.applyDetectorEvent(event(id), Date.now()))))
  const pw = (await s.rotateCredentials(ids[0]!)).password
  await time('verifyDeviceCredentials ms/op', 2000, async () => { for (let i = 0; i < 2000; i++) await s.verifyDeviceCredentials(ids[0]!, Buffer.from(pw)) })
  await s.close()
} finally {
  await server.stop()
}

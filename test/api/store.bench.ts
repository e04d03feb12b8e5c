/** Store commit costs on a file database (fsync per commit). Run: npx tsx test/api/store.bench.ts */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../api/store/index.ts'
import { event, fridge } from './fixtures.ts'
const dir = mkdtempSync(join(tmpdir(), 'fw-bench-'))
const s = openStore({ dataDir: dir })
const ids = Array.from({ length: 200 }, (_, i) => s.createDevice({ ...fridge, serial: `S${i}` }).device.id)
const core = { overall: 80, status: 'healthy' as const, components: { compressor: { score: 80, reason: 'ok' } }, usage: { runningHours: 1, cycles: 2, doorOpenings: 3 }, lastEventTime: 1, warmingUp: false }
let t = performance.now()
const N = 2000
for (let i = 0; i < N; i++) s.saveHealth(ids[i % ids.length]!, core)
console.log("saveHealth ms/op", ((performance.now() - t) / N).toFixed(3)); t = performance.now()
for (let r = 0; r < 10; r++) s.saveHealthBatch(ids.map((id) => [id, core] as const))
console.log('saveHealthBatch(200) ms per device', ((performance.now() - t) / 2000).toFixed(4))
t = performance.now()
for (let i = 0; i < ids.length; i++) s.applyDetectorEvent(event(ids[i]!), Date.now())
console.log('applyDetectorEvent (new ticket) ms/op', ((performance.now() - t) / ids.length).toFixed(3))
t = performance.now()
for (let i = 0; i < ids.length; i++) s.applyDetectorEvent(event(ids[i]!), Date.now())
console.log('applyDetectorEvent (replay) ms/op', ((performance.now() - t) / ids.length).toFixed(3))
const pw = s.rotateCredentials(ids[0]!).password
t = performance.now()
for (let i = 0; i < N; i++) s.verifyDeviceCredentials(ids[0]!, Buffer.from(pw))
console.log('verifyDeviceCredentials ms/op', ((performance.now() - t) / N).toFixed(4))
s.close(); rmSync(dir, { recursive: true })

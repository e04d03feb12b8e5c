/**
 * Broker memory per device connection and fleet delivery at scale, fleet in a separate process:
 *   npx tsx test/broker/bench-connections.ts [devices=2000] [readings=5] [intervalMs=1000] [rampPerSec=1000]
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createEmbeddedBroker } from '../../broker/index.ts'
import { createIngest } from '../../ingest/index.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

const devices = Number(process.argv[2] ?? 2000)
const readings = Number(process.argv[3] ?? 5)
const intervalMs = Number(process.argv[4] ?? 1000)
const ramp = Number(process.argv[5] ?? 1000)
const dir = mkdtempSync(join(tmpdir(), 'forewarn-bench-'))
const ingest = createIngest({ dataDir: dir, lookupDevice: () => ({ type: 'refrigerator', revoked: false }), onReadings: () => {}, onStatus: () => {}, onDeviceEvent: () => {} })
await ingest.start()
const broker = await createEmbeddedBroker({
  port: 0,
  authenticate: async (u, p) => (p.toString() === `pw-${u}` ? { kind: 'device', deviceId: u } : null),
  onPublish: async (_p, id, kind, payload) => {
    await ingest.accept(id, kind, payload)
  },
})
const gc = (globalThis as { gc?: () => void }).gc
gc?.()
const before = process.memoryUsage()
const t0 = Date.now()
const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'fleet-process.ts'), `mqtt://127.0.0.1:${broker.port}`, String(devices), String(readings), String(intervalMs), String(ramp)], { stdio: ['ignore', 'pipe', 'inherit'] })
let peak = { rss: 0, heapUsed: 0, connected: 0 }
const sampler = setInterval(() => {
  const m = process.memoryUsage()
  const c = broker.connectedDevices()
  if (c >= peak.connected) peak = { rss: m.rss, heapUsed: m.heapUsed, connected: c }
}, 200)
let out = ''
child.stdout.on('data', (d) => (out += d))
await new Promise((r) => child.once('exit', r))
clearInterval(sampler)
const summary = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, number>
const perConn = (x: number): number => Math.round(x / Math.max(1, peak.connected))
console.log(JSON.stringify({
  devices, readings, wallMs: Date.now() - t0, ...summary, ingestAccepted: ingest.stats().accepted, commits: ingest.stats().batches,
  peakConnected: peak.connected, rssPerConnBytes: perConn(peak.rss - before.rss), heapPerConnBytes: perConn(peak.heapUsed - before.heapUsed),
}))
await broker.close()
await ingest.close()
rmSync(dir, { recursive: true, force: true })

/**
 * Group-commit throughput of the ingest journal on this disk (WAL, synchronous=FULL):
 *   npx tsx test/ingest/bench-group-commit.ts [readings=40000] [concurrency=1000] [ingestModule]
 * `concurrency` accepts are kept in flight, as that many devices awaiting their PUBACK would.
 * Payloads are bench-sized (9 metrics, ~220 bytes). `mainCpuUsPerReading` is the CPU the main
 * thread spends per reading (what the event loop that parses MQTT and sends PUBACKs pays);
 * `cpuUsPerReading` includes a journal worker thread. `ingestModule` (a path) benches another
 * copy of ingest/index.ts, e.g. the previous commit's, side by side in one session.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { createIngest as CreateIngest } from '../../ingest/index.ts'

const total = Number(process.argv[2] ?? 40_000)
const concurrency = Number(process.argv[3] ?? 1000)
const modulePath = process.argv[4] ? pathToFileURL(resolve(process.argv[4])).href : '../../ingest/index.ts'
const { createIngest } = (await import(modulePath)) as { createIngest: typeof CreateIngest }
const dir = mkdtempSync(join(tmpdir(), 'forewarn-bench-'))
let handed = 0
const ingest = createIngest({
  dataDir: dir, lookupDevice: () => ({ type: 'refrigerator', revoked: false }),
  onReadings: (rs) => {
    handed += rs.length
  },
  onStatus: () => {}, onDeviceEvent: () => {},
})
await ingest.start()
const now = Date.now()
const metrics = (seq: number): Record<string, number> => ({
  cabinet_temp_c: 4.21 + (seq % 7) / 100, freezer_temp_c: -18.32, evaporator_temp_c: -25.13, condenser_temp_c: 38.4,
  compressor_current_a: 1.12, compressor_on: 1, door_open: 0, ambient_temp_c: 21.53, setpoint_c: 4,
})
// Warm-up: the journal worker starts (and compiles its TypeScript) before the clock does.
await ingest.accept('warmup', 'telemetry', Buffer.from(JSON.stringify({ v: 1, boot: 1, ts: now - 1000, seq: 0, metrics: metrics(0) })))
const accepted0 = ingest.stats().accepted
let next = 0
let batchMsMax = 0
const cpu0 = process.cpuUsage()
const elu0 = performance.eventLoopUtilization()
const t0 = performance.now()
await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
  while (next < total) {
    const seq = next++
    const payload = Buffer.from(JSON.stringify({ v: 1, boot: 1, ts: now - 1000, seq, metrics: metrics(seq) }))
    await ingest.accept(`dev${w}`, 'telemetry', payload)
    batchMsMax = Math.max(batchMsMax, ingest.stats().lastBatchMs)
  }
}))
const ms = performance.now() - t0
const elu = performance.eventLoopUtilization(elu0)
const cpu = process.cpuUsage(cpu0)
const s0 = ingest.stats()
const s = { ...s0, accepted: s0.accepted - accepted0, batches: s0.batches - 1 }
if (s.rejectedTotal > 0) throw new Error(`bench payloads rejected: ${JSON.stringify(s.rejected)}`)
// Main-thread CPU ≈ event-loop active time (the worker's CPU shows only in process.cpuUsage).
console.log(JSON.stringify({
  readings: s.accepted, handed, commits: s.batches, readingsPerCommit: +(s.accepted / s.batches).toFixed(1),
  readingsPerSec: Math.round((s.accepted / ms) * 1000), wallMs: Math.round(ms), maxCommitMs: +batchMsMax.toFixed(2),
  mainCpuUsPerReading: +((elu.active * 1000) / s.accepted).toFixed(2),
  cpuUsPerReading: +((cpu.user + cpu.system) / s.accepted).toFixed(2),
}))
await ingest.close()
rmSync(dir, { recursive: true, force: true })

/**
 * Group-commit throughput of the ingest journal on this disk (WAL, synchronous=FULL):
 *   npx tsx test/ingest/bench-group-commit.ts [readings=20000] [concurrency=500]
 * `concurrency` accepts are kept in flight, as that many devices awaiting their PUBACK would.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createIngest } from '../../ingest/index.ts'

const total = Number(process.argv[2] ?? 20_000)
const concurrency = Number(process.argv[3] ?? 500)
const dir = mkdtempSync(join(tmpdir(), 'forewarn-bench-'))
const ingest = createIngest({
  dataDir: dir, lookupDevice: () => ({ type: 'refrigerator', revoked: false }),
  onReadings: () => {}, onStatus: () => {}, onDeviceEvent: () => {},
})
await ingest.start()
const now = Date.now()
let next = 0
let batchMsMax = 0
const t0 = performance.now()
await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
  while (next < total) {
    const seq = next++
    const payload = Buffer.from(JSON.stringify({ v: 1, boot: 1, ts: now - 1000, seq, metrics: { cabinet_temp_c: 4.2, compressor_current_a: 1.1 } }))
    await ingest.accept(`dev${w}`, 'telemetry', payload)
    const s = ingest.stats()
    batchMsMax = Math.max(batchMsMax, s.lastBatchMs)
  }
}))
const ms = performance.now() - t0
const s = ingest.stats()
console.log(JSON.stringify({
  readings: s.accepted, commits: s.batches, readingsPerCommit: +(s.accepted / s.batches).toFixed(1),
  readingsPerSec: Math.round((s.accepted / ms) * 1000), wallMs: Math.round(ms), maxCommitMs: +batchMsMax.toFixed(2),
}))
await ingest.close()
rmSync(dir, { recursive: true, force: true })

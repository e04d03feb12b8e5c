/**
 * The console's recent-telemetry window: its cost on the ingest path (the buffer), its cost per
 * flush in the embedded store next to the health records written in the same flush, and its size
 * on disk when every device holds a full window. Run: npx tsx test/api/console/telemetry.bench.ts
 * (FOREWARN_BENCH_DEVICES sets the devices given a full window; default 1000).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createWindowBuffer, defaultWindowShape } from '../../../api/console/telemetry.ts'
import { openStore } from '../../../api/store/index.ts'
import type { HealthCore, Reading } from '../../../domain/index.ts'
import { fridge } from '../fixtures.ts'

const shape = defaultWindowShape
const metrics = { cabinet_temp_c: 4.1, freezer_temp_c: -18.2, evaporator_temp_c: -20.3, condenser_temp_c: 40.4, compressor_current_a: 1.25, compressor_on: 1, door_open: 0, ambient_temp_c: 22.1, setpoint_c: 4 }

// 1. The buffer on the ingest path: 10,000 devices, one reading a minute each.
{
  const DEVICES = 10_000
  const READINGS = 1_000_000
  const b = createWindowBuffer(shape)
  const start = Date.now() - 21 * 86_400_000
  const readings: Reading[] = []
  for (let j = 0; j < READINGS; j++) readings.push({ deviceId: `ref-${j % DEVICES}`, boot: 1, seq: j, ts: start + Math.floor(j / DEVICES) * 60_000, metrics })
  // A take per 10,000 readings (one reading per device per flush, as a fleet reporting every
  // minute gives a one-second health flush): add is paid per reading, take per device and flush.
  let addMs = 0
  let takeMs = 0
  for (let j = 0; j < READINGS; j += DEVICES) {
    let t = performance.now()
    for (let k = j; k < j + DEVICES; k++) b.add(readings[k]!, 'refrigerator')
    addMs += performance.now() - t
    t = performance.now()
    b.take()
    takeMs += performance.now() - t
  }
  console.log(`buffer: add ${((addMs * 1e6) / READINGS).toFixed(0)} ns per reading of 9 metrics; take ${((takeMs * 1e6) / READINGS).toFixed(0)} ns per device and flush`)
}

const dir = mkdtempSync(join(tmpdir(), 'forewarn-window-bench-'))
const file = join(dir, 'forewarn.db')
const size = () => statSync(file).size
try {
  const D = Number(process.env.FOREWARN_BENCH_DEVICES ?? 1000)
  let s = openStore({ dataDir: dir })
  const ids: string[] = []
  for (let i = 0; i < D; i++) ids.push(s.createDevice({ ...fridge, serial: `SN-${i}` }).device.id)
  s.close()
  const before = size()

  // 2. One flush for every device (one bucket each) against the health records of the same devices.
  s = openStore({ dataDir: dir })
  const core: HealthCore = { overall: 93, status: 'healthy', components: { compressor: { score: 93, reason: 'steady' } }, usage: { runningHours: 12.5, cycles: 40, doorOpenings: 9 }, lastEventTime: 1, warmingUp: false }
  const t1 = Date.UTC(2026, 0, 1)
  const rounds = 5
  const health: number[] = []
  const windowMs: number[] = []
  for (let r = 0; r < rounds; r++) {
    let t = performance.now()
    s.saveHealthBatch(ids.map((id) => [id, core] as const))
    health.push(performance.now() - t)
    // Each round adds to the bucket the previous round wrote (read, merge, write, prune).
    const buckets = ids.map((deviceId) => ({ deviceId, startMs: t1, means: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, [v + r, 60] as const])) }))
    t = performance.now()
    s.addToWindow(buckets, shape)
    windowMs.push(performance.now() - t)
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  console.log(`flush of ${D} devices on a file, median of ${rounds}: health records ${median(health).toFixed(1)} ms, recent window ${median(windowMs).toFixed(1)} ms (${((median(windowMs) * 1000) / D).toFixed(1)} µs per device)`)

  // 3. Size: every device with a full window (168 buckets of 9 metrics).
  const full = []
  for (const deviceId of ids) {
    for (let k = 0; k < shape.buckets; k++) full.push({ deviceId, startMs: t1 + k * shape.bucketMs, means: Object.fromEntries(Object.entries(metrics).map(([m, v]) => [m, [v + k / 7, 60] as const])) })
  }
  const t = performance.now()
  s.addToWindow(full, shape)
  const fillMs = performance.now() - t
  const rows = s.recentWindow(ids[0]!, shape).length
  s.close()
  const bytes = (size() - before) / D
  console.log(`full window: ${rows} rows per device, ${(bytes / 1024).toFixed(1)} KB per device on disk (SQLite file growth over ${D} devices), so ${((bytes * 10_000) / 1e6).toFixed(0)} MB for 10,000 devices; filled in ${(fillMs / 1000).toFixed(1)} s`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}

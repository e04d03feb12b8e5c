/** Cost of the console's recent-telemetry window on the ingest path. Run: npx tsx test/api/console/telemetry.bench.ts */
import { createTelemetryWindow, defaultWindowOptions } from '../../../api/console/telemetry.ts'
import type { Reading } from '../../../domain/index.ts'

const DEVICES = 10_000
const READINGS = 1_000_000
const BATCH = 500
const w = createTelemetryWindow(defaultWindowOptions)
const start = Date.now() - 21 * 86_400_000
const batches: Reading[][] = []
for (let i = 0; i < READINGS; i += BATCH) {
  const b: Reading[] = []
  for (let j = i; j < i + BATCH; j++) {
    b.push({
      deviceId: `ref-${j % DEVICES}`, boot: 1, seq: j, ts: start + Math.floor(j / DEVICES) * 60_000,
      metrics: { cabinet_temp_c: 4, freezer_temp_c: -18, evaporator_temp_c: -20, condenser_temp_c: 40, compressor_current_a: 1.2, compressor_on: 1, door_open: 0, ambient_temp_c: 22, setpoint_c: 4 },
    })
  }
  batches.push(b)
}
const typeOf = () => 'refrigerator' as const
const before = process.memoryUsage().arrayBuffers
const t0 = performance.now()
for (const b of batches) w.add(b, typeOf)
const ms = performance.now() - t0
console.log(`window add: ${((ms * 1e6) / READINGS).toFixed(0)} ns per reading (9 metrics); ${DEVICES} devices hold ${((process.memoryUsage().arrayBuffers - before) / 1e6).toFixed(0)} MB`)

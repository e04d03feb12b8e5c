/**
 * Detector cost and detector state (a child process of `forewarn bench`, started with
 * --expose-gc): nanoseconds per reading per appliance type, heap per device for a large fleet
 * held offline (devices added and fed a few readings, no connections), and `forewarn evaluate`
 * readings per second; the detection engine's ns per row and heap per watched 8-metric device.
 */
import { applianceTypes, type BuiltinType, type Reading } from '../../domain/index.ts'
import { createDetector } from '../../detectors/index.ts'
import { createEngine } from '../../detectors/engine.ts'
import { createSimAppliance } from '../../simulators/appliance.ts'
import { runEvaluate } from '../evaluate.ts'
import { serveRpc } from './rpc.ts'

const START = Date.UTC(2026, 0, 1)
/** Keeps the detector's output alive so the timed loop cannot be optimised away. */
let sink = 0

function gcNow(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('the detector bench needs --expose-gc')
  gc()
  gc()
}

/** Readings of `devices` appliances of one type, interleaved in event-time order as a live stream would bring them. */
function stream(type: BuiltinType, devices: number, perDevice: number): Reading[] {
  const sims = Array.from({ length: devices }, (_, i) => createSimAppliance({ deviceId: `${type}-${i}`, type, seed: 1000 + i, startMs: START }))
  const out: Reading[] = []
  for (let k = 0; k < perDevice; k++) {
    for (const sim of sims) {
      const r = sim.next()
      if (!r.lost) out.push({ deviceId: sim.deviceId, boot: r.boot, seq: k, ts: r.ts, metrics: r.metrics })
    }
  }
  return out
}

/** Rows of an 8-metric machine (the engine's cost target), noisy around fixed levels. */
function engineRows(devices: number, perDevice: number): Float64Array[] {
  let seed = 42
  const r = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647
  return Array.from({ length: devices * perDevice }, () => Float64Array.from({ length: 8 }, (_, k) => 10 * (k + 1) + r() - 0.5))
}

/** The detection engine's ns per row, 8 metrics, warm-up included (150 rows). */
function engineNs(p: { devices: number; readingsPerDevice: number; runs: number }): number[] {
  const rows = engineRows(p.devices, p.readingsPerDevice)
  const ids = Array.from({ length: p.devices }, (_, i) => `m-${i}`)
  const out: number[] = []
  for (let run = -1; run < p.runs; run++) {
    const engine = createEngine({ warmupRows: 150 })
    let score = 0
    const t0 = process.hrtime.bigint()
    for (let k = 0; k < rows.length; k++) score += engine.process(ids[k % p.devices]!, rows[k]!, START + Math.floor(k / p.devices) * 60_000).score
    const ns = Number(process.hrtime.bigint() - t0)
    sink += score
    if (run >= 0) out.push(Math.round((ns / rows.length) * 10) / 10)
  }
  return out
}

/** Heap per watched 8-metric device (past its warm-up), as `offline` measures the appliance detector. */
function engineHeap(p: { devices: number }): number {
  const rows = engineRows(1, 200)
  gcNow()
  const before = process.memoryUsage().heapUsed
  let engine: ReturnType<typeof createEngine> | null = createEngine({ warmupRows: 150 })
  for (let i = 0; i < p.devices; i++) {
    const id = `m-${i.toString(36).padStart(8, '0')}`
    for (let k = 0; k < rows.length; k++) engine.process(id, rows[k]!, START + k * 60_000)
  }
  gcNow()
  const bytes = Math.round((process.memoryUsage().heapUsed - before) / p.devices)
  sink += engine.baseline('m-00000000')?.rows ?? 0
  engine = null
  return bytes
}

function perType(p: { devices: number; readingsPerDevice: number; runs: number }): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const type of applianceTypes) {
    const readings = stream(type, p.devices, p.readingsPerDevice)
    out[type] = []
    // Run 0 warms the JIT up and is not counted.
    for (let run = -1; run < p.runs; run++) {
      const det = createDetector()
      for (let i = 0; i < p.devices; i++) det.ensureDevice(`${type}-${i}`, type)
      let events = 0
      const t0 = process.hrtime.bigint()
      for (const r of readings) events += det.process(r).length
      const ns = Number(process.hrtime.bigint() - t0)
      sink += events
      if (run >= 0) out[type].push(Math.round((ns / readings.length) * 10) / 10)
    }
  }
  out['engine, 8 metrics'] = engineNs(p)
  return out
}

/**
 * Heap growth per device: V8 heap after a full GC with `devices` devices added and fed
 * `readingsEach` readings, minus the heap before, over `devices`. It includes the map entry and
 * the id string. The snapshot length (what a checkpoint writes) is reported beside it.
 */
export interface OfflineResult { bytesPerDevice: number[]; snapshotBytes: number; seconds: number[] }
export interface EvaluateResult { readingsPerSec: number[]; readings: number; workers: number }

function offline(p: { devices: number; readingsEach: number; runs: number }): OfflineResult {
  const rings = Object.fromEntries(applianceTypes.map((t) => [t, stream(t, 1, p.readingsEach).map((r) => r.metrics)])) as Record<BuiltinType, Record<string, number>[]>
  const bytesPerDevice: number[] = []
  const seconds: number[] = []
  let snapshotBytes = 0
  for (let run = 0; run < p.runs; run++) {
    gcNow()
    const before = process.memoryUsage().heapUsed
    const t0 = performance.now()
    let det: ReturnType<typeof createDetector> | null = createDetector()
    const reading: Reading = { deviceId: '', boot: 0, seq: 0, ts: 0, metrics: {} }
    for (let i = 0; i < p.devices; i++) {
      const type = applianceTypes[i % applianceTypes.length] as BuiltinType
      const id = `${type.slice(0, 3)}-${i.toString(36).padStart(8, '0')}`
      det.ensureDevice(id, type)
      reading.deviceId = id
      const ring = rings[type]
      for (let k = 0; k < p.readingsEach; k++) {
        reading.seq = k
        reading.ts = START + k * 60_000
        reading.metrics = ring[k % ring.length] as Record<string, number>
        det.process(reading)
      }
    }
    seconds.push(Math.round(performance.now() - t0) / 1000)
    gcNow()
    bytesPerDevice.push(Math.round((process.memoryUsage().heapUsed - before) / p.devices))
    const sizes: number[] = []
    for (let i = 0; i < Math.min(1000, p.devices); i++) {
      const type = applianceTypes[i % applianceTypes.length] as BuiltinType
      sizes.push(Buffer.byteLength(det.snapshot(`${type.slice(0, 3)}-${i.toString(36).padStart(8, '0')}`) ?? ''))
    }
    sizes.sort((a, b) => a - b)
    snapshotBytes = sizes[Math.floor(sizes.length / 2)] ?? 0
    det = null
  }
  return { bytesPerDevice, snapshotBytes, seconds }
}

async function evaluate(p: { devices: number; days: number; runs: number }): Promise<EvaluateResult> {
  const rates: number[] = []
  let readings = 0
  let workers = 1
  for (let run = 0; run < p.runs; run++) {
    const card = await runEvaluate({ devices: p.devices, days: p.days, seed: 1 })
    rates.push(card.readingsPerSec)
    readings = card.readings
    workers = card.workers
  }
  return { readingsPerSec: rates, readings, workers }
}

serveRpc({ perType, offline, evaluate, engineHeap, sink: () => sink })

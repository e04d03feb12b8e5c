/**
 * The system under test (a child process of `forewarn bench`): either the embedded aedes broker
 * with no pipeline attached, or the whole of `forewarn start` (startForewarn) on a fresh data
 * directory. Alone in its process, so its resident memory is its own.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PerformanceObserver, monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import pino from 'pino'
import { applianceTypes, catalogue, type BuiltinType } from '../../domain/index.ts'
import { createEmbeddedBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { loadStartConfig } from '../config.ts'
import { startForewarn, type Running } from '../start.ts'
import type { IngestStats } from '../../ingest/index.ts'
import type { Worker } from '../../cluster/worker.ts'
import type { BenchDevice } from './load.ts'
import { serveRpc, wallMs } from './rpc.ts'

let broker: EmbeddedBroker | null = null
let running: Running | null = null
const warningAt = new Map<string, number>()
const log = pino({ level: process.env.FOREWARN_LOG_LEVEL ?? 'warn' }, pino.destination(2))

/** Event-loop stalls and GC pauses in a window: where latency outliers come from. */
export interface LoopResult { delayP99Ms: number; delayMaxMs: number; gcPauseMaxMs: number; gcPauseTotalMs: number }

let loopDelay: IntervalHistogram | null = null
const gc = { maxMs: 0, totalMs: 0 }
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.totalMs += e.duration
    if (e.duration > gc.maxMs) gc.maxMs = e.duration
  }
}).observe({ entryTypes: ['gc'] })

/** `reset` starts a window; `read` ends it. */
function loop(p: { op: 'reset' | 'read' }): LoopResult | null {
  if (p.op === 'reset') {
    loopDelay?.disable()
    loopDelay = monitorEventLoopDelay({ resolution: 1 })
    loopDelay.enable()
    gc.maxMs = gc.totalMs = 0
    return null
  }
  const h = loopDelay
  if (h === null) throw new Error('loop: reset first')
  h.disable()
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100
  return { delayP99Ms: ms(h.percentile(99)), delayMaxMs: ms(h.max), gcPauseMaxMs: Math.round(gc.maxMs * 100) / 100, gcPauseTotalMs: Math.round(gc.totalMs) }
}

export interface MemoryResult { rssMiB: number; heapUsedMiB: number; externalMiB: number }
export interface ServerStats {
  t: number
  ingest: IngestStats | null
  connected: number
  /** A cluster worker's readings folded into detectors, and its partitions' lag summed (null elsewhere). */
  worker: { readings: number; owned: number; lag: number } | null
}

function memory(): MemoryResult {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  const mib = (x: number): number => Math.round((x / 1_048_576) * 10) / 10
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), externalMiB: mib(m.external + m.arrayBuffers) }
}

async function aedes(): Promise<{ port: number }> {
  broker = await createEmbeddedBroker({
    port: 0,
    allowAnonymous: true,
    logger: log,
    authenticate: () => Promise.resolve(null),
    onPublish: () => Promise.resolve(),
  })
  return { port: broker.port }
}

/**
 * Provisioning goes through the store directly (one transaction and fsync per device, ~5 ms):
 * the devices and their credentials are kept in the data directory so later runs reuse them.
 */
interface ForewarnParams {
  dataDir: string
  /** Devices to provision (0 for a process that provisions none: a cluster worker). */
  devices: number
  env?: Record<string, string>
  /** `forewarn bench --cluster`: the NATS URLs and this process's roles. */
  cluster?: string[]
  roles?: string[]
}

async function forewarn(p: ForewarnParams): Promise<{ port: number; devices: BenchDevice[] }> {
  // FOREWARN_INFLUX_INLINE=1 on the bench's command line compares the sink in the event loop;
  // FOREWARN_CONSOLE_WINDOW_HOURS=0 the pipeline without the console's recent window (docs/console.md).
  const env: Record<string, string> = { ...p.env }
  for (const name of ['FOREWARN_INFLUX_INLINE', 'FOREWARN_CONSOLE_WINDOW_HOURS']) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  const clusterFlags = p.cluster ? { cluster: p.cluster.join(','), roles: (p.roles ?? []).join(',') } : {}
  const config = loadStartConfig({ dataDir: p.dataDir, mqttPort: 0, apiPort: 0, host: '127.0.0.1', simulate: 0, ...clusterFlags }, env)
  running = await startForewarn(config, log, env)
  if (p.devices === 0) return { port: 0, devices: [] }
  const file = join(p.dataDir, 'bench-devices.json')
  const devices: BenchDevice[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchDevice[]) : []
  for (let i = devices.length; i < p.devices; i++) {
    const type = applianceTypes[i % applianceTypes.length] as BuiltinType
    // Awaited: the records store may be synchronous (SQLite) or asynchronous (PostgreSQL).
    const { device, credentials } = await running.store.createDevice({
      type, model: catalogue[type].models[0] as string, serial: `BENCH-${i}`, region: 'bench',
      installDate: '2024-01-01', warranty: { standardEnd: '2030-01-01', extended: [] },
    })
    devices.push({ id: device.id, type, username: credentials.username, password: credentials.password })
  }
  writeFileSync(file, JSON.stringify(devices))
  return { port: running.mqttPort, devices: devices.slice(0, p.devices) }
}

function workerStats(w: Worker): NonNullable<ServerStats['worker']> {
  let lag = 0
  for (const n of w.lag().values()) lag += n
  return { readings: w.stats().readings, owned: w.owned().length, lag }
}

/** Subscribes to the warnings the composition root publishes, as an in-process subscriber. */
function watchWarnings(): Promise<null> {
  const r = running
  if (!r?.broker) throw new Error('forewarn is not running on the embedded broker')
  const embedded = r.broker
  return new Promise((resolve) => {
    embedded.aedes.subscribe('forewarn/warnings/+', (packet, done) => {
      const deviceId = packet.topic.slice('forewarn/warnings/'.length)
      if (!warningAt.has(deviceId)) warningAt.set(deviceId, wallMs())
      done()
    }, () => resolve(null))
  })
}

function snapshotSizes(): { devices: number; medianBytes: number; meanBytes: number } {
  if (!running) throw new Error('forewarn is not running')
  const sizes = [...running.ingest.loadSnapshots().values()].map((s) => Buffer.byteLength(s)).sort((a, b) => a - b)
  const mean = sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length)
  return { devices: sizes.length, medianBytes: sizes[Math.floor(sizes.length / 2)] ?? 0, meanBytes: Math.round(mean) }
}

serveRpc({
  aedes,
  forewarn,
  watchWarnings,
  warnings: () => {
    const out = [...warningAt].map(([deviceId, t]) => ({ deviceId, t }))
    warningAt.clear()
    return out
  },
  stats: (): ServerStats => ({
    t: wallMs(),
    ingest: running?.ingest.stats() ?? null,
    connected: running?.broker?.connectedDevices() ?? broker?.connectedDevices() ?? 0,
    worker: running?.worker ? workerStats(running.worker) : null,
  }),
  /** Partitions with an owner and live members, as this process's cluster view has them. */
  clusterView: () => {
    const v = running?.cluster?.view()
    if (!v) throw new Error('not in a cluster')
    return { members: v.members.length, workers: v.members.filter((m) => m.roles.includes('worker')).length, owned: v.partitions.filter((x) => x.owner !== null).length, partitions: v.partitions.length }
  },
  memory,
  loop,
  snapshotSizes,
  clock: () => wallMs(),
  async stop() {
    await running?.stop()
    await broker?.close()
    running = null
    broker = null
    return null
  },
})

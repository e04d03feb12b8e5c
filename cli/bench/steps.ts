/**
 * The bench's measurements, one function per step of issue 8. Each run starts what it measures
 * in a fresh child process, drives the load generator (one long-lived child) and reads counters
 * at the edges of a fixed window; nothing here is timed in the orchestrating process itself.
 */
import { join } from 'node:path'
import { applianceTypes, type BuiltinType } from '../../domain/index.ts'
import type { BenchDevice } from './load.ts'
import { clockOffset, spawnChild, type Child } from './rpc.ts'
import { cpuSeconds, cpuSecondsOfStat } from './servers.ts'
import type { LoopResult, MemoryResult, ServerStats } from './server.ts'
import { quantile, toWarningLatencies } from './stats.ts'

export interface Plan {
  runs: number
  /** MQTT connections publishing telemetry, and unacknowledged messages each may have. */
  connections: number
  window: number
  warmupMs: number
  windowMs: number
  /** Firmware faults injected per latency run (each on its own device → one warning). */
  faultsPerRun: number
  scaleDevices: number[]
  scaleRuns: number
  offlineDevices: number
  offlineRuns: number
  detectorDevices: number
  detectorReadingsPerDevice: number
  evaluateDevices: number
  evaluateDays: number
  evaluateRuns: number
  /** The records store's write cost: measured rounds, devices in memory and on a file. */
  storeRounds: number
  storeMemoryDevices: number
  storeFileDevices: number
}

export interface Ctx {
  plan: Plan
  load: Child
  tmp: string
  log: (line: string) => void
  /** Extra env for the Forewarn process (the InfluxDB sink's INFLUX_*). */
  forewarnEnv: Record<string, string>
  /** The InfluxDB server's process, when the sink writes to one: it shares the machine's cores. */
  influxPid: number | null
  /** Folder for a CPU profile of the first end-to-end run, if asked for. */
  cpuProfDir: string | null
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface LoadCounters { t: number; published: number; acked: number; received: number; meanPayloadBytes: number; refused: number }

function anonymousDevices(n: number): BenchDevice[] {
  return Array.from({ length: n }, (_, i) => ({ id: `bench-${i}`, type: applianceTypes[i % applianceTypes.length] as BuiltinType }))
}

const perSec = (d: number, ms: number): number => (d * 1000) / Math.max(1, ms)

export interface RelayRun { relayedPerSec: number; ackedPerSec: number; meanPayloadBytes: number; brokerCpuPct: number; loadCpuPct: number }

/** CPU of the processes in a window, as % of one core. */
/** CPU of a process's main thread (its task id is the pid), in % of one core. */
function threadCpuMeter(pid: number): () => number {
  const read = (): number => cpuSecondsOfStat(`/proc/${pid}/task/${pid}/stat`)
  const t0 = performance.now()
  const c0 = read()
  return () => Math.round(((read() - c0) / ((performance.now() - t0) / 1000)) * 100)
}

function cpuMeter(pids: number[]): () => number[] {
  const t0 = performance.now()
  const c0 = pids.map(cpuSeconds)
  return () => {
    const s = (performance.now() - t0) / 1000
    return pids.map((p, i) => Math.round(((cpuSeconds(p) - (c0[i] as number)) / s) * 100))
  }
}

/** Step 1: publishers at QoS 1 (closed loop) and one QoS 1 subscriber, on a bare broker. */
export async function relayRun(ctx: Ctx, port: number, brokerPid: number): Promise<RelayRun> {
  const { plan, load } = ctx
  await load.call('connect', { host: '127.0.0.1', port, devices: anonymousDevices(plan.connections), subscribe: 'appliances/+/telemetry' })
  await load.call('start', { mode: 'closed', window: plan.window })
  await sleep(plan.warmupMs)
  const a = await load.call<LoadCounters>('counters')
  const cpu = cpuMeter([brokerPid, load.pid])
  await sleep(plan.windowMs)
  const b = await load.call<LoadCounters>('counters')
  const [brokerCpuPct, loadCpuPct] = cpu()
  await load.call('stop')
  await load.call('disconnect')
  return {
    relayedPerSec: perSec(b.received - a.received, b.t - a.t),
    ackedPerSec: perSec(b.acked - a.acked, b.t - a.t),
    meanPayloadBytes: b.meanPayloadBytes,
    brokerCpuPct: brokerCpuPct ?? Number.NaN,
    loadCpuPct: loadCpuPct ?? Number.NaN,
  }
}

async function startForewarnChild(ctx: Ctx, dataDir: string, devices: number, nodeArgs: string[] = []): Promise<{ server: Child; port: number; devices: BenchDevice[] }> {
  const server = spawnChild('./server.ts', { raiseFdLimit: true, nodeArgs })
  try {
    const r = await server.call<{ port: number; devices: BenchDevice[] }>('forewarn', { dataDir, devices, env: ctx.forewarnEnv }, 600_000)
    return { server, ...r }
  } catch (err) {
    await server.stop()
    throw err
  }
}

export interface EndToEndRun {
  processedPerSec: number
  acceptedPerSec: number
  backlogStart: number
  backlogEnd: number
  lagMsMedian: number
  lagMsMax: number
  refused: number
  forewarnCpuPct: number
  /** The event loop's thread alone (broker, decode, detector); the rest is the journal worker, GC, libuv. */
  forewarnMainThreadCpuPct: number
  loadCpuPct: number
  /** InfluxDB's server (NaN without one). */
  influxCpuPct: number
  /** Group commits (one transaction + fsync each) in the window, and their mean size and duration. */
  commits: number
  rowsPerCommit: number
  commitMsMedian: number
}

/**
 * Step 2: the same workload into `forewarn start` (broker → journal → detector → store). The
 * sustained rate is what the detector stage processed in the window (ingest `dispatched`): the
 * journal may accept faster for a while, but that shows as a growing backlog, reported beside it.
 */
export async function endToEndRun(ctx: Ctx, run: number): Promise<EndToEndRun> {
  const { plan, load } = ctx
  const prof = ctx.cpuProfDir !== null && run === 0 ? ['--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfDir}`] : []
  const { server, port, devices } = await startForewarnChild(ctx, join(ctx.tmp, `e2e-${run}`), plan.connections, prof)
  try {
    const c = await load.call<{ refused: number }>('connect', { host: '127.0.0.1', port, devices })
    await load.call('start', { mode: 'closed', window: plan.window })
    await sleep(plan.warmupMs)
    const s0 = await server.call<ServerStats>('stats')
    const cpu = cpuMeter(ctx.influxPid === null ? [server.pid, load.pid] : [server.pid, load.pid, ctx.influxPid])
    const mainThread = threadCpuMeter(server.pid)
    const lags: number[] = []
    const commitMs: number[] = []
    let prev = s0
    const end = Date.now() + plan.windowMs
    while (Date.now() < end) {
      await sleep(Math.min(250, Math.max(1, end - Date.now())))
      const s = await server.call<ServerStats>('stats')
      const rate = perSec((s.ingest?.dispatched ?? 0) - (prev.ingest?.dispatched ?? 0), s.t - prev.t)
      // Ingest lag: how long the committed-but-unprocessed backlog takes at the current rate.
      lags.push(rate > 0 ? ((s.ingest?.queued ?? 0) / rate) * 1000 : 0)
      if (s.ingest) commitMs.push(s.ingest.lastBatchMs)
      prev = s
    }
    const s1 = prev
    const [forewarnCpuPct, loadCpuPct, influxCpuPct] = cpu()
    const forewarnMainThreadCpuPct = mainThread()
    await load.call('stop')
    await load.call('disconnect')
    const ms = s1.t - s0.t
    return {
      processedPerSec: perSec((s1.ingest?.dispatched ?? 0) - (s0.ingest?.dispatched ?? 0), ms),
      acceptedPerSec: perSec((s1.ingest?.accepted ?? 0) - (s0.ingest?.accepted ?? 0), ms),
      backlogStart: s0.ingest?.queued ?? 0,
      backlogEnd: s1.ingest?.queued ?? 0,
      lagMsMedian: quantile(lags, 0.5),
      lagMsMax: Math.max(0, ...lags),
      refused: c.refused,
      forewarnCpuPct: forewarnCpuPct ?? Number.NaN,
      forewarnMainThreadCpuPct,
      loadCpuPct: loadCpuPct ?? Number.NaN,
      influxCpuPct: influxCpuPct ?? Number.NaN,
      commits: (s1.ingest?.batches ?? 0) - (s0.ingest?.batches ?? 0),
      rowsPerCommit: ((s1.ingest?.accepted ?? 0) - (s0.ingest?.accepted ?? 0)) / Math.max(1, (s1.ingest?.batches ?? 0) - (s0.ingest?.batches ?? 0)),
      commitMsMedian: quantile(commitMs, 0.5),
    }
  } finally {
    await server.call('stop').catch(() => null)
    await server.stop()
  }
}

export interface LatencyRun {
  ratePerSec: number
  toWarning: { p50: number; p99: number; max: number; samples: number; missing: number }
  toStored: { p50: number; p99: number; samples: number }
  skipped: number
  loop: LoopResult
}

/**
 * Step 3: an open-loop load at `ratePerSec` while firmware error codes are published on other
 * devices, one each, so each raises one warning. Publish-to-warning runs from the device's
 * PUBLISH to the warning's arrival at a subscriber of `forewarn/warnings/+` inside the Forewarn
 * process (the service account has no MQTT login to use from outside); publish-to-stored from
 * PUBLISH to PUBACK, which Forewarn sends only after the journal commit.
 */
export async function latencyRun(ctx: Ctx, run: number, ratePerSec: number): Promise<LatencyRun> {
  const { plan, load } = ctx
  const faults = plan.faultsPerRun
  const { server, port, devices } = await startForewarnChild(ctx, join(ctx.tmp, `latency-${run}`), plan.connections + faults)
  try {
    await server.call('watchWarnings')
    await load.call('connect', { host: '127.0.0.1', port, devices })
    const offServer = await clockOffset(server)
    const offLoad = await clockOffset(load)
    const everyMs = Math.max(2, Math.floor((plan.windowMs * 0.9) / faults))
    await load.call('start', { mode: 'open', ratePerSec, window: 64, telemetryDevices: plan.connections })
    await sleep(plan.warmupMs)
    const a = await load.call<LoadCounters>('counters')
    await server.call('loop', { op: 'reset' })
    await load.call('sample', { events: devices.slice(plan.connections), everyMs })
    await sleep(plan.windowMs)
    const loop = await server.call<LoopResult>('loop', { op: 'read' })
    const r = await load.call<{ latenciesMs: number[]; events: { deviceId: string; t: number }[]; skipped: number }>('stop')
    const b = await load.call<LoadCounters>('counters')
    await sleep(500)
    const arrivals = new Map((await server.call<{ deviceId: string; t: number }[]>('warnings')).map((w) => [w.deviceId, w.t]))
    await load.call('disconnect')
    const { latencies: toWarning, missing } = toWarningLatencies(r.events, arrivals, offServer, offLoad)
    return {
      ratePerSec: perSec(b.published - a.published, b.t - a.t),
      toWarning: { p50: quantile(toWarning, 0.5), p99: quantile(toWarning, 0.99), max: Math.max(...toWarning), samples: toWarning.length, missing },
      toStored: { p50: quantile(r.latenciesMs, 0.5), p99: quantile(r.latenciesMs, 0.99), samples: r.latenciesMs.length },
      skipped: r.skipped,
      loop,
    }
  } finally {
    await server.call('stop').catch(() => null)
    await server.stop()
  }
}

/** Registers the scale step's devices once (one fsync per device), so runs only connect. */
export async function provisionScale(ctx: Ctx, dir: string, devices: number): Promise<void> {
  const { server } = await startForewarnChild(ctx, dir, devices)
  await server.call('stop')
  await server.stop()
}

export interface ScaleRun {
  connected: number
  rssMiBIdle: number
  rssMiB: number
  heapUsedMiB: number
  rssKiBPerConnection: number
  snapshotBytesPerDevice: number
}

/** Step 4: `devices` connected devices, each having published 3 readings; memory of the Forewarn process after a GC. */
export async function scaleRun(ctx: Ctx, dir: string, devices: number): Promise<ScaleRun> {
  const { server, port, devices: list } = await startForewarnChild(ctx, dir, devices, ['--expose-gc'])
  try {
    const idle = await server.call<MemoryResult>('memory')
    const c = await ctx.load.call<{ connected: number }>('connect', { host: '127.0.0.1', port, devices: list, concurrency: 200 }, 600_000)
    await ctx.load.call('publishEach', { n: 3 }, 600_000)
    // The composition root checkpoints detector snapshots every 2 s by default.
    await sleep(2600)
    const m = await server.call<MemoryResult>('memory')
    const snaps = await server.call<{ medianBytes: number }>('snapshotSizes')
    await ctx.load.call('disconnect', undefined, 600_000)
    return {
      connected: c.connected,
      rssMiBIdle: idle.rssMiB,
      rssMiB: m.rssMiB,
      heapUsedMiB: m.heapUsedMiB,
      rssKiBPerConnection: ((m.rssMiB - idle.rssMiB) * 1024) / Math.max(1, c.connected),
      snapshotBytesPerDevice: snaps.medianBytes,
    }
  } finally {
    await server.call('stop').catch(() => null)
    await server.stop()
  }
}

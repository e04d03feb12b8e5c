/**
 * `forewarn bench --cluster` (issue 17, docs/scaling.md): the same load against one Forewarn
 * process, a cluster of one edge and one worker, and one edge and two workers, in one run, on a
 * three-node NATS cluster and PostgreSQL started here on loopback. Every process is a child (its
 * CPU its own, read from /proc), nats-server nodes and PostgreSQL's backends included.
 */
import { join } from 'node:path'
import type { BenchDevice } from './load.ts'
import { clockOffset, spawnChild, type Child } from './rpc.ts'
import { cpuSeconds } from './servers.ts'
import type { ServerStats } from './server.ts'
import type { NatsCluster } from '../../servers/nats.ts'
import type { PostgresServer } from '../../servers/postgres.ts'
import { groupCpuSeconds, natsPids, resetStreams, walPosition, walWrites } from './cluster-probes.ts'
import { figure, median, quantile, toWarningLatencies, type Figure } from './stats.ts'
import type { Row } from './table.ts'

export interface ClusterPlan {
  runs: number
  /** Connections publishing telemetry (closed loop, `window` unacknowledged QoS 1 messages each). */
  connections: number
  window: number
  /** Firmware faults injected in each latency window, one per device, each raising one warning. */
  faults: number
  warmupMs: number
  windowMs: number
}

export const clusterPlan: ClusterPlan = { runs: 1, connections: 50, window: 20, faults: 100, warmupMs: 2000, windowMs: 8000 }
export const clusterQuickPlan: ClusterPlan = { runs: 1, connections: 10, window: 10, faults: 10, warmupMs: 700, windowMs: 1500 }

/** 0 workers: one process, no cluster (the default `forewarn start`). */
export interface Topology { name: string; workers: number }
export const topologies: readonly Topology[] = [
  { name: 'single process', workers: 0 },
  { name: 'cluster, 1 edge + 1 worker', workers: 1 },
  { name: 'cluster, 1 edge + 2 workers', workers: 2 },
]

export interface ClusterCtx {
  plan: ClusterPlan
  load: Child
  tmp: string
  log: (line: string) => void
  nats: NatsCluster
  pg: PostgresServer
  /** Env for every Forewarn process (the InfluxDB sink's INFLUX_*). */
  forewarnEnv: Record<string, string>
  influx: { pid: number; points(): Promise<number> } | null
}

export interface ClusterRun {
  topology: string
  workers: number
  /** Readings folded into detectors per second (single process: handed from the journal to the pipeline). */
  processedPerSec: number
  /** Readings PUBACKed per second (committed to the journal or the stream). */
  acceptedPerSec: number
  /** Committed but not yet processed, at the end of the window minus at its start. */
  backlogGrowth: number
  /** CPU in the throughput window, % of one core. */
  cpuPct: { edge: number; workers: number; nats: number; natsBusiest: number; postgres: number; load: number; influx: number }
  postgres: { commitsPerSec: number; rowsPerSec: number }
  influxPointsPerSec: number
  latency: {
    ratePerSec: number
    toStored: { p50: number; p99: number; samples: number }
    toWarning: { p50: number; p99: number; samples: number; missing: number }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const perSec = (d: number, ms: number): number => (d * 1000) / Math.max(1, ms)

interface Procs { edge: Child; workers: Child[]; devices: BenchDevice[]; port: number }

async function startProcs(ctx: ClusterCtx, t: Topology, run: number, devices: number, databaseUrl: string): Promise<Procs> {
  const env = { ...ctx.forewarnEnv, DATABASE_URL: databaseUrl }
  const dir = join(ctx.tmp, `${t.workers}w-${run}`)
  const cluster = t.workers === 0 ? {} : { cluster: ctx.nats.urls.split(',') }
  const edge = spawnChild('./server.ts', { raiseFdLimit: true })
  const workers: Child[] = []
  try {
    // The edge first: it migrates the schema and provisions the devices the workers look up.
    const r = await edge.call<{ port: number; devices: BenchDevice[] }>('forewarn', {
      dataDir: join(dir, 'edge'), devices, env, ...cluster, ...(t.workers > 0 ? { roles: ['edge'] } : {}),
    }, 600_000)
    for (let i = 0; i < t.workers; i++) workers.push(spawnChild('./server.ts'))
    await Promise.all(workers.map((w, i) => w.call('forewarn', { dataDir: join(dir, `worker-${i}`), devices: 0, env, ...cluster, roles: ['worker'] }, 600_000)))
    if (t.workers > 0) await settled(ctx, edge, workers)
    return { edge, workers, devices: r.devices, port: r.port }
  } catch (err) {
    await stopProcs({ edge, workers, devices: [], port: 0 })
    throw err
  }
}

/** Until every partition has an owner and each worker holds some (a rebalance has ended). */
async function settled(ctx: ClusterCtx, edge: Child, workers: Child[]): Promise<void> {
  const deadline = Date.now() + 60_000
  let last = ''
  while (Date.now() < deadline) {
    const v = await edge.call<{ workers: number; owned: number; partitions: number }>('clusterView')
    const owned = (await Promise.all(workers.map((w) => w.call<ServerStats>('stats')))).map((s) => s.worker?.owned ?? 0)
    last = `${v.workers} workers seen, ${v.owned}/${v.partitions} partitions owned, per worker ${owned.join('+')}`
    if (v.workers === workers.length && owned.every((n) => n > 0) && owned.reduce((a, b) => a + b, 0) === v.partitions) return
    await sleep(200)
  }
  throw new Error(`cluster did not settle within 60 s: ${last}`)
}

async function stopProcs(p: Procs): Promise<void> {
  for (const c of [...p.workers, p.edge]) {
    await c.call('stop', undefined, 30_000).catch(() => null)
    await c.stop()
  }
}

interface Sample { t: number; processed: number; accepted: number; backlog: number }

async function sample(p: Procs): Promise<Sample> {
  const e = await p.edge.call<ServerStats>('stats')
  if (p.workers.length === 0) {
    return { t: e.t, processed: e.ingest?.dispatched ?? 0, accepted: e.ingest?.accepted ?? 0, backlog: e.ingest?.queued ?? 0 }
  }
  const ws = await Promise.all(p.workers.map((w) => w.call<ServerStats>('stats')))
  return {
    t: e.t,
    processed: ws.reduce((a, s) => a + (s.worker?.readings ?? 0), 0),
    accepted: e.ingest?.accepted ?? 0,
    backlog: ws.reduce((a, s) => a + (s.worker?.lag ?? 0), 0),
  }
}

/** CPU seconds of several processes, summed. */
const cpuOf = (pids: readonly number[]): number => pids.reduce((s, pid) => s + (cpuSeconds(pid) || 0), 0)

/** Waits (bounded) until what was accepted has been processed, so the next window starts clean. */
async function drain(p: Procs, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const s = await sample(p)
    if (s.backlog === 0 && (p.workers.length > 0 || s.processed >= s.accepted)) return
    await sleep(200)
  }
}

/**
 * One configuration: a closed-loop throughput window, then an open-loop latency window at half
 * the rate this configuration sustained, with firmware faults on devices of their own.
 */
export async function clusterRun(ctx: ClusterCtx, t: Topology, run: number): Promise<ClusterRun> {
  const { plan, load, log } = ctx
  if (t.workers > 0) await resetStreams(ctx.nats)
  const databaseUrl = await ctx.pg.createDatabase(`bench_${t.workers}w_${run}`)
  // Devices: [0, c) closed loop, [c, 2c) open loop, then one per fault. Fresh devices per window:
  // a reconnecting device would start its sequence again and be dropped as a duplicate.
  const c = plan.connections
  const p = await startProcs(ctx, t, run, 2 * c + plan.faults, databaseUrl)
  try {
    log(`${t.name}: throughput window`)
    await load.call('connect', { host: '127.0.0.1', port: p.port, devices: p.devices.slice(0, c) })
    await load.call('start', { mode: 'closed', window: plan.window })
    await sleep(plan.warmupMs)
    const pids = { edge: [p.edge.pid], workers: p.workers.map((w) => w.pid), nats: natsPids(ctx.nats), load: [load.pid], influx: ctx.influx ? [ctx.influx.pid] : [] }
    const s0 = await sample(p)
    const c0 = { edge: cpuOf(pids.edge), workers: cpuOf(pids.workers), nats: cpuOf(pids.nats), pg: groupCpuSeconds(ctx.pg.pid), load: cpuOf(pids.load), influx: cpuOf(pids.influx) }
    const n0 = pids.nats.map((pid) => cpuSeconds(pid))
    const w0 = await walPosition(ctx.pg)
    const i0 = (await ctx.influx?.points()) ?? Number.NaN
    await sleep(plan.windowMs)
    const s1 = await sample(p)
    const c1 = { edge: cpuOf(pids.edge), workers: cpuOf(pids.workers), nats: cpuOf(pids.nats), pg: groupCpuSeconds(ctx.pg.pid), load: cpuOf(pids.load), influx: cpuOf(pids.influx) }
    // The busiest node is the stream's leader: one stream's ceiling is its leader's core.
    const natsBusiest = Math.max(0, ...pids.nats.map((pid, i) => cpuSeconds(pid) - (n0[i] as number)))
    const w1 = await walPosition(ctx.pg)
    const i1 = (await ctx.influx?.points()) ?? Number.NaN
    await load.call('stop')
    await load.call('disconnect')
    const ms = s1.t - s0.t
    const pct = (a: number, b: number): number => ((b - a) / (ms / 1000)) * 100
    const wal = walWrites(ctx.pg, w0, w1)
    const processedPerSec = perSec(s1.processed - s0.processed, ms)
    await drain(p, 30_000)

    const ratePerSec = Math.max(50, Math.round(processedPerSec / 2))
    log(`${t.name}: latency window at ${ratePerSec} readings/s`)
    const lat = await latencyWindow(ctx, p, ratePerSec)
    return {
      topology: t.name,
      workers: t.workers,
      processedPerSec,
      acceptedPerSec: perSec(s1.accepted - s0.accepted, ms),
      backlogGrowth: s1.backlog - s0.backlog,
      cpuPct: {
        edge: pct(c0.edge, c1.edge), workers: pct(c0.workers, c1.workers), nats: pct(c0.nats, c1.nats), natsBusiest: t.workers > 0 ? pct(0, natsBusiest) : 0,
        postgres: pct(c0.pg, c1.pg), load: pct(c0.load, c1.load), influx: pct(c0.influx, c1.influx),
      },
      postgres: { commitsPerSec: perSec(wal.commits, ms), rowsPerSec: perSec(wal.rows, ms) },
      influxPointsPerSec: perSec(i1 - i0, ms),
      latency: lat,
    }
  } finally {
    await stopProcs(p)
  }
}

async function latencyWindow(ctx: ClusterCtx, p: Procs, ratePerSec: number): Promise<ClusterRun['latency']> {
  const { plan, load } = ctx
  const c = plan.connections
  const devices = p.devices.slice(c)
  await p.edge.call('watchWarnings')
  await load.call('connect', { host: '127.0.0.1', port: p.port, devices })
  const offEdge = await clockOffset(p.edge)
  const offLoad = await clockOffset(load)
  const everyMs = Math.max(2, Math.floor((plan.windowMs * 0.9) / plan.faults))
  await load.call('start', { mode: 'open', ratePerSec, window: 64, telemetryDevices: c })
  await sleep(plan.warmupMs)
  const a = await load.call<{ t: number; published: number }>('counters')
  await load.call('sample', { events: devices.slice(c), everyMs })
  await sleep(plan.windowMs)
  const r = await load.call<{ latenciesMs: number[]; events: { deviceId: string; t: number }[] }>('stop')
  const b = await load.call<{ t: number; published: number }>('counters')
  // Warnings of the last faults may still be on their way: wait for them, bounded.
  const arrivals = new Map<string, number>()
  const deadline = Date.now() + 10_000
  do {
    await sleep(250)
    for (const w of await p.edge.call<{ deviceId: string; t: number }[]>('warnings')) arrivals.set(w.deviceId, w.t)
  } while (arrivals.size < r.events.length && Date.now() < deadline)
  await load.call('disconnect')
  const { latencies: toWarning, missing } = toWarningLatencies(r.events, arrivals, offEdge, offLoad)
  return {
    ratePerSec: perSec(b.published - a.published, b.t - a.t),
    toStored: { p50: quantile(r.latenciesMs, 0.5), p99: quantile(r.latenciesMs, 0.99), samples: r.latenciesMs.length },
    toWarning: { p50: quantile(toWarning, 0.5), p99: quantile(toWarning, 0.99), samples: toWarning.length, missing },
  }
}

/** CPU per processed reading, µs, from % of a core and readings/s. */
export const usPerReading = (cpuPct: number, perSecond: number): number => (cpuPct * 1e4) / perSecond

const round1 = (x: number): number => Math.round(x * 10) / 10

/** The table rows and the JSON of a cluster bench: per topology, and each cluster's ratio to the single process. */
export function summariseCluster(runs: readonly ClusterRun[]): { rows: Row[]; json: Record<string, unknown> } {
  const rows: Row[] = []
  const json: Record<string, unknown>[] = []
  const byTopology = topologies.map((t) => ({ t, runs: runs.filter((r) => r.topology === t.name) })).filter((x) => x.runs.length > 0)
  const single = byTopology.find((x) => x.t.workers === 0)?.runs ?? []
  const singleRate = figure(single.map((r) => r.processedPerSec))
  for (const { t, runs: rs } of byTopology) {
    const pick = (f: (r: ClusterRun) => number): Figure => figure(rs.map(f))
    const rate = pick((r) => r.processedPerSec)
    const us = (f: (r: ClusterRun) => number): Figure => pick((r) => usPerReading(f(r), r.processedPerSec))
    const edge = us((r) => r.cpuPct.edge)
    const workers = us((r) => r.cpuPct.workers)
    const nats = us((r) => r.cpuPct.nats)
    const natsBusiest = us((r) => r.cpuPct.natsBusiest)
    const postgres = us((r) => r.cpuPct.postgres)
    const influx = us((r) => r.cpuPct.influx)
    const puback50 = pick((r) => r.latency.toStored.p50)
    const puback99 = pick((r) => r.latency.toStored.p99)
    const warn50 = pick((r) => r.latency.toWarning.p50)
    const warn99 = pick((r) => r.latency.toWarning.p99)
    const missing = pick((r) => r.latency.toWarning.missing)
    const ratio: Figure = { median: rate.median / singleRate.median, min: rate.min / singleRate.max, max: rate.max / singleRate.min, runs: Math.min(rate.runs, singleRate.runs) }
    const cluster = t.workers > 0
    rows.push(
      { label: `${t.name}: end to end (readings/s)`, fig: rate },
      ...(cluster ? [{ label: '  ÷ single process, same run', fig: ratio }] : []),
      { label: '  accepted, PUBACKed (readings/s)', fig: pick((r) => r.acceptedPerSec) },
      { label: '  backlog growth over the window (readings)', fig: pick((r) => r.backlogGrowth) },
      { label: cluster ? '  CPU per reading, edge process (µs)' : '  CPU per reading, the process (µs)', fig: edge },
      ...(cluster ? [
        { label: `  CPU per reading, worker process${t.workers > 1 ? 'es, summed' : ''} (µs)`, fig: workers },
        { label: '  CPU per reading, nats-server × 3, summed (µs)', fig: nats },
        { label: '    of which the busiest node (µs)', fig: natsBusiest },
      ] : []),
      { label: '  CPU per reading, PostgreSQL (µs)', fig: postgres },
      { label: '  CPU per reading, InfluxDB stand-in (µs)', fig: influx },
      { label: '  PostgreSQL write transactions/s', fig: pick((r) => r.postgres.commitsPerSec) },
      { label: '  PostgreSQL rows written/s', fig: pick((r) => r.postgres.rowsPerSec) },
      { label: '  InfluxDB points/s', fig: pick((r) => r.influxPointsPerSec) },
      { label: '  latency load (readings/s, half the above)', fig: pick((r) => r.latency.ratePerSec) },
      { label: '  publish → PUBACK p50 (ms)', fig: puback50 },
      { label: '  publish → PUBACK p99 (ms)', fig: puback99 },
      { label: '  publish → warning p50 (ms)', fig: warn50 },
      { label: '  publish → warning p99 (ms)', fig: warn99 },
      { label: '  warnings that never arrived', fig: missing },
    )
    const med = (f: Figure): number => round1(f.median)
    json.push({
      topology: t.name,
      workers: t.workers,
      runs: rs.length,
      readingsPerSec: Math.round(rate.median),
      ratioToSingle: cluster ? Math.round(ratio.median * 1000) / 1000 : 1,
      acceptedPerSec: Math.round(median(rs.map((r) => r.acceptedPerSec))),
      backlogGrowth: Math.round(median(rs.map((r) => r.backlogGrowth))),
      cpuUsPerReading: { edge: med(edge), worker: cluster ? med(workers) : null, nats: cluster ? med(nats) : null, natsBusiestNode: cluster ? med(natsBusiest) : null, postgres: med(postgres), influx: med(influx) },
      cpuPct: {
        edge: Math.round(median(rs.map((r) => r.cpuPct.edge))), worker: Math.round(median(rs.map((r) => r.cpuPct.workers))),
        nats: Math.round(median(rs.map((r) => r.cpuPct.nats))), postgres: Math.round(median(rs.map((r) => r.cpuPct.postgres))),
        load: Math.round(median(rs.map((r) => r.cpuPct.load))), influx: Math.round(median(rs.map((r) => r.cpuPct.influx))),
      },
      postgres: { commitsPerSec: Math.round(median(rs.map((r) => r.postgres.commitsPerSec))), rowsPerSec: Math.round(median(rs.map((r) => r.postgres.rowsPerSec))) },
      influxPointsPerSec: Math.round(median(rs.map((r) => r.influxPointsPerSec))),
      latencyRatePerSec: Math.round(median(rs.map((r) => r.latency.ratePerSec))),
      publishToPubackMs: { p50: med(puback50), p99: med(puback99) },
      publishToWarningMs: { p50: med(warn50), p99: med(warn99) },
      warningsInjected: rs.reduce((a, r) => a + r.latency.toWarning.samples + r.latency.toWarning.missing, 0),
      warningsMissing: rs.reduce((a, r) => a + r.latency.toWarning.missing, 0),
    })
  }
  return { rows, json: { topologies: json } }
}

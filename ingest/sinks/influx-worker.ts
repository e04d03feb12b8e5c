/**
 * Worker thread body of the threaded InfluxDB sink (influx-thread.ts): runs the sink of influx.ts
 * on the line protocol the main thread encoded, and reports back what the main thread shows
 * (state, backpressure, metrics, logs).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { ForewarnError } from '../../domain/index.ts'
import { createInfluxSink, type LineSink, type SinkLogger } from './influx.ts'
import type { FromWorker, LogEntry, MetricOp, ToWorker, WorkerData } from './influx-thread.ts'
import { sinkMetrics, type SinkMetrics } from './sink-metrics.ts'

const port = parentPort
if (port === null) throw new Error('influx-worker.ts runs in a worker thread')
const { config, options } = workerData as WorkerData

let ops: MetricOp[] = []
let logs: LogEntry[] = []
let received = 0

/** Records metric updates for the main thread's registry; the names are sinkMetrics()'s own. */
function recordingMetrics(): SinkMetrics {
  const names = Object.keys(sinkMetrics()) as (keyof SinkMetrics)[]
  const metric = (name: keyof SinkMetrics) => ({
    inc: (labels: Record<string, string>, value = 1) => ops.push([name, 'inc', labels, value]),
    set: (labels: Record<string, string>, value: number) => ops.push([name, 'set', labels, value]),
    observe: (labels: Record<string, string>, value: number) => ops.push([name, 'observe', labels, value]),
  })
  return Object.fromEntries(names.map((n) => [n, metric(n)])) as unknown as SinkMetrics
}

const log: SinkLogger = {
  info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
  warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
  error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
}

const send = (msg: FromWorker): void => port.postMessage(msg)

let sink: LineSink
try {
  sink = await createInfluxSink(config, { ...options, metrics: recordingMetrics(), log })
} catch (err) {
  send({ t: 'failed', code: err instanceof ForewarnError ? err.code : null, message: (err as Error).message })
  port.close()
  throw err
}

let pushedBack = false
function report(): void {
  const backpressure = sink.backpressure
  send({ t: 'report', state: sink.state(), backpressure, received, ops, logs })
  ops = []
  logs = []
  // Tell the main thread the moment the sink stops pushing back, not at the next tick.
  if (backpressure && !pushedBack) sink.onDrain(report)
  pushedBack = backpressure
}
const ticker = setInterval(report, 100)

port.on('message', (msg: ToWorker) => {
  switch (msg.t) {
    case 'lines':
      sink.writeLines(msg.text, msg.n)
      received += msg.n
      if (sink.backpressure && !pushedBack) report()
      break
    case 'flush':
      // The state that goes with the flush arrives with it (pending 0 once all is written).
      void sink.flush().then(() => {
        report()
        send({ t: 'flushed', id: msg.id })
      })
      break
    case 'close':
      void sink.close().then(() => {
        clearInterval(ticker)
        report()
        send({ t: 'closed' })
        port.close()
      })
      break
  }
})
report()
send({ t: 'ready' })

/**
 * Prometheus metrics of a sink, labelled by sink name. Registered on the caller's registry when
 * one is given (and reused if a sink of the same process registered them before); otherwise kept
 * in a private registry nobody scrapes, so instrumentation costs next to nothing.
 */
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client'
import type { SinkStateName } from '../sink.ts'

export interface SinkMetrics {
  written: Counter<'sink'>
  dropped: Counter<'sink' | 'reason'>
  batches: Counter<'sink' | 'result'>
  retries: Counter<'sink'>
  writeSeconds: Histogram<'sink'>
  spoolBytes: Gauge<'sink'>
  pending: Gauge<'sink'>
  backpressure: Gauge<'sink'>
  state: Gauge<'sink' | 'state'>
}

function reuse<T extends Metric>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make()
}

export function sinkMetrics(registry: Registry = new Registry()): SinkMetrics {
  const registers = [registry]
  return {
    written: reuse(registry, 'forewarn_sink_points_written_total', () =>
      new Counter({ name: 'forewarn_sink_points_written_total', help: 'Points the database acknowledged.', labelNames: ['sink'], registers })),
    dropped: reuse(registry, 'forewarn_sink_points_dropped_total', () =>
      new Counter({ name: 'forewarn_sink_points_dropped_total', help: 'Points given up on, by reason (refused by the database, memory limit, closed without spool).', labelNames: ['sink', 'reason'], registers })),
    batches: reuse(registry, 'forewarn_sink_write_batches_total', () =>
      new Counter({ name: 'forewarn_sink_write_batches_total', help: 'Write requests by result.', labelNames: ['sink', 'result'], registers })),
    retries: reuse(registry, 'forewarn_sink_write_retries_total', () =>
      new Counter({ name: 'forewarn_sink_write_retries_total', help: 'Failed write attempts that will be retried.', labelNames: ['sink'], registers })),
    writeSeconds: reuse(registry, 'forewarn_sink_write_duration_seconds', () =>
      new Histogram({ name: 'forewarn_sink_write_duration_seconds', help: 'Latency of successful write requests.', labelNames: ['sink'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers })),
    spoolBytes: reuse(registry, 'forewarn_sink_spool_bytes', () =>
      new Gauge({ name: 'forewarn_sink_spool_bytes', help: 'Bytes of line protocol waiting in the on-disk spool.', labelNames: ['sink'], registers })),
    pending: reuse(registry, 'forewarn_sink_pending_points', () =>
      new Gauge({ name: 'forewarn_sink_pending_points', help: 'Points accepted and not yet written (memory, in flight and spool).', labelNames: ['sink'], registers })),
    backpressure: reuse(registry, 'forewarn_sink_backpressure', () =>
      new Gauge({ name: 'forewarn_sink_backpressure', help: '1 while the sink asks its source to pause.', labelNames: ['sink'], registers })),
    state: reuse(registry, 'forewarn_sink_state', () =>
      new Gauge({ name: 'forewarn_sink_state', help: '1 for the state the sink is in (writing, retrying, spooling, off).', labelNames: ['sink', 'state'], registers })),
  }
}

export function setStateGauge(m: SinkMetrics, sink: string, current: SinkStateName): void {
  for (const s of ['writing', 'retrying', 'spooling', 'off'] as const) m.state.set({ sink, state: s }, s === current ? 1 : 0)
}

/**
 * Pipeline metrics for `GET /metrics` (Prometheus text format): what ingest accepted and refused
 * by reason, how far behind event time the pipeline runs, and what the detector and the ticket
 * policy did. Ingest figures are read at scrape time, so the hot path pays nothing for them.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Ingest } from '../ingest/index.ts'
import type { StoreOutage } from './store-lane.ts'

export interface PipelineMetrics {
  detectorEvents: Counter<'kind' | 'source'>
  /** Readings the detector threw on: skipped one by one, the rest of their batch folded. */
  detectorErrors: Counter
  ticketsOpened: Counter
  /** Event time of the newest reading of a batch to the moment it was processed. */
  ingestLag: Histogram
  /** Failed records-store writes that are being tried again (the store is away, or refuses writes). */
  storeRetries: Counter<'op' | 'retriable'>
}

export function createPipelineMetrics(registry: Registry): PipelineMetrics {
  const registers = [registry]
  return {
    detectorEvents: new Counter({ name: 'forewarn_detector_events_total', help: 'Warnings raised, escalated and cleared, by source (detector or firmware).', labelNames: ['kind', 'source'], registers }),
    detectorErrors: new Counter({ name: 'forewarn_detector_errors_total', help: 'Readings the detector failed on (a defect; each is logged with its device and sequence and skipped).', registers }),
    ticketsOpened: new Counter({ name: 'forewarn_tickets_opened_total', help: 'Proactive tickets opened by the ticket policy.', registers }),
    ingestLag: new Histogram({
      name: 'forewarn_ingest_lag_seconds', help: 'Event time of the newest reading in a batch to its processing (back-filled readings lag by design).',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86_400], registers,
    }),
    storeRetries: new Counter({
      name: 'forewarn_store_write_retries_total',
      help: 'Records-store writes that failed and are tried again, by operation and whether the error is known to be transient; checkpoints wait meanwhile.',
      labelNames: ['op', 'retriable'], registers,
    }),
  }
}

export function registerIngestMetrics(registry: Registry, ingest: Ingest): void {
  const registers = [registry]
  new Gauge({
    name: 'forewarn_ingest_readings_accepted', help: 'Readings accepted and committed to the journal since start.', registers,
    collect() { this.set(ingest.stats().accepted) },
  })
  new Gauge({
    name: 'forewarn_ingest_duplicates', help: 'Redelivered readings dropped by (device, boot, seq) since start.', registers,
    collect() { this.set(ingest.stats().duplicates) },
  })
  new Gauge({
    name: 'forewarn_ingest_refused', help: 'Payloads refused since start, by reason (kept in the dead-letter store, GET /ingest/rejects).', labelNames: ['reason'], registers,
    collect() {
      for (const [reason, n] of Object.entries(ingest.stats().rejected)) this.set({ reason }, n)
    },
  })
  new Gauge({
    name: 'forewarn_ingest_queued', help: 'Readings committed but not yet processed by the detector.', registers,
    collect() { this.set(ingest.stats().queued) },
  })
  new Gauge({
    name: 'forewarn_ingest_last_commit_seconds', help: 'Duration of the last group commit (one fsync).', registers,
    collect() { this.set(ingest.stats().lastBatchMs / 1000) },
  })
  new Gauge({
    name: 'forewarn_ingest_failed_commits', help: 'Journal group commits that failed since start (disk full, I/O error); their readings got no PUBACK and are resent.', registers,
    collect() { this.set(ingest.stats().failedCommits) },
  })
  new Gauge({
    name: 'forewarn_ingest_processing_errors', help: 'Batches the pipeline failed to process (they stay in the journal).', registers,
    collect() { this.set(ingest.stats().processingErrors) },
  })
}

/** 1 while records-store writes fail and are retried (checkpoints held), else 0; read at scrape time. */
export function registerStoreMetrics(registry: Registry, outage: () => StoreOutage | null): void {
  new Gauge({
    name: 'forewarn_store_writes_failing', help: 'Whether records-store writes are failing and being retried (1) or not (0); checkpoints are held while 1.', registers: [registry],
    collect() { this.set(outage() === null ? 0 : 1) },
  })
}

/** A cluster worker's partitions and their lag, read at scrape time (docs/scaling.md). */
export function registerClusterMetrics(registry: Registry, worker: { lag(): Map<number, number>; stats(): { readings: number; skipped: number; lostClaims: number } }): void {
  const registers = [registry]
  new Gauge({
    name: 'forewarn_cluster_partition_lag', help: 'Messages in a partition of the readings stream after the last one this worker received, per owned partition.',
    labelNames: ['partition'], registers,
    collect() {
      this.reset()
      for (const [p, lag] of worker.lag()) this.set({ partition: String(p) }, lag)
    },
  })
  new Gauge({
    name: 'forewarn_cluster_partitions_owned', help: 'Partitions of the readings stream this worker owns.', registers,
    collect() { this.set(worker.lag().size) },
  })
  new Gauge({
    name: 'forewarn_cluster_readings_folded', help: 'Stream readings this worker folded into detectors since start.', registers,
    collect() { this.set(worker.stats().readings) },
  })
  new Gauge({
    name: 'forewarn_cluster_messages_skipped', help: 'Stream messages skipped as already folded (replayed after a take-over) since start.', registers,
    collect() { this.set(worker.stats().skipped) },
  })
  new Gauge({
    name: 'forewarn_cluster_claims_lost', help: 'Partitions this worker dropped without a checkpoint since start: its claim lapsed (a stall past the lease TTL) or another worker wrote the partition\'s checkpoint.', registers,
    collect() { this.set(worker.stats().lostClaims) },
  })
}

/**
 * `fn`'s answer shared by every collect of one scrape: `registry.metrics()` starts all its metrics'
 * collects in one synchronous turn, so the answer is dropped at the next microtask. A gauge read
 * on its own still gets a fresh one.
 */
export function oncePerScrape<T>(fn: () => T): () => T {
  let cached: { value: T } | null = null
  return () => {
    if (cached === null) {
      cached = { value: fn() }
      queueMicrotask(() => { cached = null })
    }
    return cached.value
  }
}

/**
 * In a process with the api role: every partition's lag as the owning workers report it in their
 * leases (one heartbeat old at most), so one scrape of any api process covers worker-only
 * processes too, which serve no HTTP; and the partitions no live worker owns. Both gauges read one
 * view per scrape, so they agree (a lease expiring between two views would make them disagree).
 */
export function registerClusterViewMetrics(registry: Registry, view: () => { partitions: { partition: number; owner: string | null; lag: number | null }[] }): void {
  const registers = [registry]
  const scraped = oncePerScrape(view)
  new Gauge({
    name: 'forewarn_cluster_lag', help: 'Messages in a partition of the readings stream not yet folded, as its owner last reported (any api process).',
    labelNames: ['partition', 'owner'], registers,
    collect() {
      this.reset()
      for (const p of scraped().partitions) if (p.owner !== null && p.lag !== null) this.set({ partition: String(p.partition), owner: p.owner }, p.lag)
    },
  })
  new Gauge({
    name: 'forewarn_cluster_partitions_unowned', help: 'Partitions of the readings stream no live worker owns: their readings wait in the stream.', registers,
    collect() { this.set(scraped().partitions.filter((p) => p.owner === null).length) },
  })
}

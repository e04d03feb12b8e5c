/**
 * What the composition root reports to the telemetry sink besides readings, health and warnings:
 * pipeline statistics per stage, ticket lifecycle events and SLA states, so the Grafana
 * dashboards (dashboards/) have every series they query.
 */
import type { Logger } from 'pino'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { Ingest } from '../ingest/index.ts'
import type { TelemetrySink } from '../ingest/sink.ts'
import type { Pipeline } from './pipeline.ts'

export interface InfluxReportingOptions {
  store: AsyncRecordsStore
  sink: TelemetrySink
  ingest: Ingest
  pipeline: Pipeline
  log: Logger
  /** How often pipeline statistics are written. */
  intervalMs?: number
}

export interface InfluxReporting {
  stop(): Promise<void>
}

export function startInfluxReporting(o: InfluxReportingOptions): InfluxReporting {
  const intervalMs = o.intervalMs ?? 10_000
  let last = { accepted: 0, rejected: 0, dead: 0 }
  const tick = async (): Promise<void> => {
    const s = o.ingest.stats()
    const c = await o.store.counts()
    const now = Date.now()
    o.sink.writePipeline('ingest', { accepted: s.accepted - last.accepted, rejected: s.rejectedTotal - last.rejected, lag_ms: o.pipeline.lagMs() }, now)
    o.sink.writePipeline('delivery', { batch_points: c.pendingDeliveries, rejected: Math.max(0, c.deadDeliveries - last.dead) }, now)
    last = { accepted: s.accepted, rejected: s.rejectedTotal, dead: c.deadDeliveries }
  }
  const timer = setInterval(() => void tick().catch((err: unknown) => o.log.warn({ err }, 'writing pipeline statistics failed')), intervalMs)
  return {
    async stop() {
      clearInterval(timer)
      await tick().catch(() => undefined)
    },
  }
}

/**
 * Where telemetry, health, warnings and ticket events go for history (InfluxDB and friends).
 * Every write method only enqueues: it never throws on IO and never waits. Durability is the
 * sink's job (retry, spool); pacing is the caller's: pause the source while `backpressure` is true
 * and resume on `onDrain`.
 */
import type { DetectorEvent, HealthCore, Reading } from '../domain/index.ts'

export interface DeviceTags {
  type: string
  model: string
  region: string
}

export interface TaggedReading {
  reading: Reading
  tags: DeviceTags
}

export type TicketSinkEventKind = 'opened' | 'state_changed' | 'delivered'

export interface TicketSinkEvent {
  ticketId: string
  deviceId: string
  type: string
  faultCode: string
  priority: string
  event: TicketSinkEventKind
  state: string
  slaState: string
  /** How a resolved ticket ended (part_replaced, repaired, no_fault_found, customer_declined). */
  outcome?: string
  atMs: number
}

/** Pipeline statistics (measurement `pipeline`), one point per stage and moment. */
export interface PipelineStats {
  accepted?: number
  rejected?: number
  lag_ms?: number
  batch_points?: number
  write_ms?: number
  spool_bytes?: number
  retries?: number
}

/**
 * writing: the database takes what we send. retrying: a write failed and is being retried.
 * spooling: batches are parked on disk until the database is back. off: closed (or not configured).
 */
export type SinkStateName = 'writing' | 'retrying' | 'spooling' | 'off'

export interface SinkState {
  state: SinkStateName
  /** Bytes of line protocol waiting in the on-disk spool. */
  spoolBytes: number
  /** Points accepted but not yet written (memory + in flight + spool). */
  pending: number
  lastError?: string
}

export interface TelemetrySink {
  readonly name: string
  writeReadings(batch: readonly TaggedReading[]): void
  writeHealth(deviceId: string, tags: DeviceTags, core: HealthCore, atMs: number): void
  writeWarning(ev: DetectorEvent, tags: DeviceTags, detectedAtMs: number): void
  writeTicketEvent(e: TicketSinkEvent): void
  writePipeline(stage: string, stats: PipelineStats, atMs: number): void
  state(): SinkState
  /**
   * Resolves once everything accepted so far is written or safely in the spool (without a spool,
   * once it is written: it waits for the database). Commit an upstream cursor only after this.
   */
  flush(): Promise<void>
  /** Flushes (bounded), then stops timers. Whatever could not be written stays in the spool. */
  close(): Promise<void>
  /** True while the in-memory buffer is full: the source should pause. */
  readonly backpressure: boolean
  /** Called (each time) when backpressure ends. */
  /** Calls `cb` once, the next time the buffer drains (one-shot; register again to wait again). */
  onDrain(cb: () => void): void
}

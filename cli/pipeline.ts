/**
 * The pipeline core the composition root runs: committed readings → detector → records store
 * (+ sink, + warnings on MQTT). Detector work is synchronous; store writes go through one ordered
 * chain, so raise → escalate → clear of an episode commit in order on any store (SQLite or
 * PostgreSQL). A checkpoint pairs the detector snapshots with the journal cursor they reflect,
 * and is written only after every effect of the readings up to that cursor is stored: a write
 * the store fails is retried until it succeeds (./store-lane.ts), and `settled()` waits for it.
 */
import type { Logger } from 'pino'
import {
  catalogue, isApplianceType, topics, type ApplianceType, type DetectorEvent, type DeviceEventV1, type HealthCore, type Reading,
} from '../domain/index.ts'
import type { Detector } from '../detectors/index.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { TaggedReading, TelemetrySink } from '../ingest/sink.ts'
import type { WindowBuffer, WindowShape } from '../api/console/telemetry.ts'
import type { WindowBucket } from '../api/store/types.ts'
import type { PipelineMetrics } from './metrics.ts'
import { createStoreLane, type StoreLane, type StoreOutage } from './store-lane.ts'

export interface DeviceInfo { type: ApplianceType; model: string; region: string; revoked: boolean }

export interface PipelineDeps {
  store: AsyncRecordsStore
  detector: Detector
  sink: TelemetrySink | null
  log: Logger
  /** Publishes a warning change on `forewarn/warnings/{deviceId}`. */
  publish: (topic: string, payload: Buffer) => Promise<void>
  offlineAfterIntervals: number
  metrics?: PipelineMetrics
  /**
   * The console's recent-telemetry window; null or absent: none. Written with the health records,
   * unless `afterCheckpoint`: then the caller takes it with each checkpoint (takeWindow) and writes
   * it once that checkpoint is recorded (writeWindow), so a replay never adds a reading twice.
   */
  window?: { buffer: WindowBuffer; shape: WindowShape; afterCheckpoint?: boolean } | null | undefined
  /** Retry timing of failed store writes (tests shorten it). */
  retry?: { minDelayMs?: number; maxDelayMs?: number; maxDelayUnknownMs?: number }
}

export interface Pipeline {
  lookupDevice(id: string): DeviceInfo | undefined
  remember(d: { id: string; type: ApplianceType; model: string; region: string; revoked: boolean }): void
  forget(id: string): void
  /** Loads every registered device into the lookup cache (ingest's look-up is synchronous). */
  preload(): Promise<void>
  ensureInDetector(deviceId: string): boolean
  onReadings(batch: Reading[]): Promise<void>
  onStatus(deviceId: string, state: 'online' | 'offline', ts: number): void
  onDeviceEvent(deviceId: string, ev: DeviceEventV1): void
  applyEvents(events: DetectorEvent[]): Promise<void>
  /** Writes health records now; the recent-telemetry window at most every WINDOW_WRITE_MS, or now when `final` (at stop). */
  flushHealth(final?: boolean): Promise<void>
  /** Snapshots of devices changed since the last call, taken now (pair them with the cursor now). */
  takeSnapshots(): [string, string][]
  /**
   * With `window.afterCheckpoint`: the window's buckets folded since the last take, when one is due
   * (WINDOW_WRITE_MS since the last, or `final`), else null. Take them with the snapshots.
   */
  takeWindow(final?: boolean): WindowBucket[] | null
  /** Stores buckets from takeWindow (in the store lane, retried like the health records). */
  writeWindow(buckets: WindowBucket[]): Promise<void>
  markDirty(deviceId: string): void
  /**
   * Resolves when every store write queued so far has committed (failed writes are retried until
   * they do); rejects once a write was given up at shutdown (see abandonFailingWrites).
   */
  settled(): Promise<void>
  /** Non-null while records-store writes fail and are being retried. */
  storeOutage(): StoreOutage | null
  /** Shutdown: stop retrying failed writes; what is not stored is replayed from the journal on restart. */
  abandonFailingWrites(): void
  markSilentOffline(): Promise<void>
  readings(): number
  /** Event time of the newest processed reading to its processing, in ms (0 before any). */
  lagMs(): number
}

/** How often the console's recent-telemetry window is written to the store (docs/console.md). */
export const WINDOW_WRITE_MS = 10_000

export function createPipeline(d: PipelineDeps): Pipeline {
  const { store, detector, sink, log } = d
  const window = d.window ?? null
  const cache = new Map<string, DeviceInfo>()
  const dirtyHealth = new Set<string>()
  const dirtySnapshot = new Set<string>()
  /** Wall clock a device was last heard from; written with the health records. */
  const seen = new Map<string, number>()
  /** When the recent-telemetry window was last written; `finalFlush` asks the next flush to write it whatever the time. */
  let windowWrittenAt = 0
  /** Readings the detector threw on (each logged with its device and sequence). */
  let detectorErrors = 0
  let finalFlush = false
  let readings = 0
  let lastLagMs = 0
  const lane: StoreLane = createStoreLane({
    log, ...d.retry,
    ...(d.metrics ? { onRetry: (op: string, retriable: boolean) => d.metrics?.storeRetries.inc({ op, retriable: String(retriable) }) } : {}),
  })
  /** One ordered lane for store writes; each store call in it is retried until it is stored. */
  const enqueue = (what: string, call: () => Promise<unknown>): Promise<void> =>
    lane.run(what, async () => { await lane.write(what, call) })
  /** A health flush queued in the lane and not yet started: later flushes join it. */
  let healthQueued = false

  const lookupDevice = (id: string): DeviceInfo | undefined => cache.get(id)

  /**
   * A device whose type is not in the loaded catalogue (its file was taken away) is left out, so
   * its readings are refused as from an unknown device instead of reaching a detector with no spec.
   */
  const cacheDevice = (dev: { id: string; type: ApplianceType; model: string; region: string; revoked: boolean }): void => {
    if (!isApplianceType(dev.type)) {
      cache.delete(dev.id)
      log.warn({ deviceId: dev.id, type: dev.type }, 'device of a machine type not in the loaded catalogue: its readings are refused')
      return
    }
    cache.set(dev.id, { type: dev.type, model: dev.model, region: dev.region, revoked: dev.revoked })
  }

  const ensureInDetector = (deviceId: string): boolean => {
    if (detector.hasDevice(deviceId)) return true
    const info = cache.get(deviceId)
    if (!info) return false
    detector.ensureDevice(deviceId, info.type)
    return true
  }

  async function applyOne(ev: DetectorEvent): Promise<void> {
    const detectedAt = Date.now()
    const { applied, ticketCreated, ticket } = await lane.write('storing a detector event', () => store.applyDetectorEvent(ev, detectedAt))
    if (!applied) return
    d.metrics?.detectorEvents.inc({ kind: ev.kind, source: ev.source })
    if (ticketCreated) d.metrics?.ticketsOpened.inc()
    const info = cache.get(ev.deviceId)
    if (sink && info) {
      sink.writeWarning(ev, info, detectedAt)
      if (ticketCreated && ticket) {
        sink.writeTicketEvent({
          ticketId: ticket.id, deviceId: ev.deviceId, type: info.type, faultCode: ev.faultCode, priority: ticket.priority,
          event: 'opened', state: ticket.state, slaState: 'on_time', atMs: detectedAt,
        })
      }
    }
    d.publish(topics.warnings(ev.deviceId), Buffer.from(JSON.stringify(ev))).catch((err: unknown) =>
      log.warn({ err, deviceId: ev.deviceId }, 'could not publish warning'))
  }

  const applyEvents = (events: DetectorEvent[]): Promise<void> =>
    lane.run('storing detector events', async () => {
      for (const ev of events) await applyOne(ev)
    })

  /**
   * Health records and last-seen times are state, not events: a flush writes each dirty device's
   * current record. While one flush waits in the lane (behind a store outage, say) later flushes
   * join it instead of queueing more, and it takes the dirty set when it runs, so it also carries
   * every change made before any checkpoint that awaits it.
   */
  function takeWindow(final: boolean): WindowBucket[] | null {
    if (window === null || !(final || Date.now() - windowWrittenAt >= WINDOW_WRITE_MS)) return null
    windowWrittenAt = Date.now()
    return window.buffer.take()
  }

  /** One transaction per write (read, merge, write, prune), whatever the number of readings. */
  async function saveWindow(buckets: WindowBucket[]): Promise<void> {
    if (window !== null && buckets.length > 0) await lane.write('saving the recent telemetry window', () => store.addToWindow(buckets, window.shape))
  }

  async function writeHealth(): Promise<void> {
    healthQueued = false
    const final = finalFlush
    finalFlush = false
    const batch: [string, HealthCore][] = []
    for (const id of dirtyHealth) {
      const core = detector.health(id)
      if (core) batch.push([id, core])
    }
    dirtyHealth.clear()
    const touched = [...seen]
    seen.clear()
    // The window's buckets are hours wide: written every WINDOW_WRITE_MS, not every flush, so a
    // device pays one window transaction per 10 s however fast its readings come (and a crash
    // loses at most that much of a chart, never a reading: the journal and detector are apart).
    const buckets = window?.afterCheckpoint === true ? null : takeWindow(final)
    if (touched.length > 0) await lane.write('recording when devices were last seen', () => store.touchDevices(touched))
    if (buckets !== null) await saveWindow(buckets)
    if (batch.length === 0) return
    if (sink) {
      const now = Date.now()
      for (const [id, core] of batch) {
        const info = cache.get(id)
        if (info) sink.writeHealth(id, info, core, core.lastEventTime ?? now)
      }
    }
    await lane.write('saving health records', () => store.saveHealthBatch(batch))
  }

  return {
    lookupDevice,
    remember(dev) {
      cacheDevice(dev)
    },
    forget(id) {
      cache.delete(id)
    },
    async preload() {
      let after: string | undefined
      for (;;) {
        const page = await store.listDevices({ limit: 1000, after })
        for (const dev of page.items) cacheDevice(dev)
        if (page.next === null) return
        after = page.next
      }
    },
    ensureInDetector,
    async onReadings(batch) {
      // After a write was given up at shutdown nothing more is checkpointed: these stay in the journal.
      if (lane.lost()) return
      const tagged: TaggedReading[] | null = sink ? [] : null
      let events: DetectorEvent[] | null = null
      let newest = 0
      const heardAt = Date.now()
      for (const r of batch) {
        if (r.ts > newest) newest = r.ts
        if (!ensureInDetector(r.deviceId)) continue
        const info = cache.get(r.deviceId) as DeviceInfo
        if (tagged) tagged.push({ reading: r, tags: info })
        if (window !== null) window.buffer.add(r, info.type)
        // One reading the detector cannot fold (a defect, never bad input: ingest validated it)
        // costs that reading only, not the rest of the batch, whose cursor has already moved.
        let evs: DetectorEvent[]
        try {
          evs = detector.process(r)
        } catch (err) {
          detectorErrors++
          d.metrics?.detectorErrors.inc()
          log.error({ err, deviceId: r.deviceId, boot: r.boot, seq: r.seq, detectorErrors }, 'the detector failed on a reading; it is skipped, the rest of the batch is folded')
          continue
        }
        if (evs.length > 0) (events ??= []).push(...evs)
        dirtyHealth.add(r.deviceId)
        dirtySnapshot.add(r.deviceId)
        seen.set(r.deviceId, heardAt)
      }
      readings += batch.length
      if (newest > 0) {
        lastLagMs = Math.max(0, Date.now() - newest)
        d.metrics?.ingestLag.observe(lastLagMs / 1000)
      }
      if (sink && tagged && tagged.length > 0) sink.writeReadings(tagged)
      if (events) await applyEvents(events)
      // While the store fails, the detector waits too: readings stay in the journal (bounded by
      // ingest's backpressure) instead of running ahead of a checkpoint that cannot advance.
      else if (lane.outage() !== null) await lane.settled().catch(() => undefined)
    },
    onStatus(deviceId, state, ts) {
      void enqueue('recording a connection change', () => store.setConnection(deviceId, state, ts))
    },
    onDeviceEvent(deviceId, ev) {
      if (!ensureInDetector(deviceId)) return
      const events = detector.firmwareEvent(deviceId, ev.code, ev.ts, ev.detail)
      dirtyHealth.add(deviceId)
      dirtySnapshot.add(deviceId)
      if (events.length > 0) void applyEvents(events)
    },
    applyEvents,
    flushHealth(final = false) {
      if (final) finalFlush = true
      if (!healthQueued && (dirtyHealth.size > 0 || seen.size > 0 || (window !== null && window.afterCheckpoint !== true && window.buffer.pending() > 0))) {
        healthQueued = true
        void lane.run('saving health records', writeHealth)
      }
      return lane.settled().catch(() => undefined)
    },
    takeSnapshots() {
      const snaps: [string, string][] = []
      for (const id of dirtySnapshot) {
        const s = detector.snapshot(id)
        if (s !== undefined) snaps.push([id, s])
      }
      dirtySnapshot.clear()
      return snaps
    },
    takeWindow: (final = false) => (window?.afterCheckpoint === true ? takeWindow(final) : null),
    writeWindow: (buckets) => lane.run('saving the recent telemetry window', () => saveWindow(buckets)),
    markDirty(deviceId) {
      dirtyHealth.add(deviceId)
      dirtySnapshot.add(deviceId)
    },
    settled: () => lane.settled(),
    storeOutage: () => lane.outage(),
    abandonFailingWrites: () => lane.abandon(),
    async markSilentOffline() {
      const now = Date.now()
      for (const dev of await store.listOnlineDevices()) {
        const spec = catalogue[dev.type]
        if (spec === undefined) continue
        const limitMs = spec.reportingIntervalS * 1000 * d.offlineAfterIntervals
        if (dev.lastSeen !== null && now - dev.lastSeen > limitMs) void enqueue('marking a silent device offline', () => store.setConnection(dev.id, 'offline', now))
      }
    },
    readings: () => readings,
    lagMs: () => lastLagMs,
  }
}

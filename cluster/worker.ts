/**
 * A worker in a cluster (docs/scaling.md): owns partitions of the readings stream, chosen by
 * rendezvous hashing over the live worker set, and feeds their readings to this process's
 * pipeline (detector → records store), as ingest does in one process.
 *
 * - Live set: the live members (cluster/index.ts) with the worker role. Each reports its
 *   partitions and their lag in its lease, which is what GET /cluster shows.
 * - Claims: a partition is consumed only under `part.<p>`, taken with create (fails while held),
 *   renewed with each heartbeat, deleted after the final checkpoint when given away, expired
 *   after the TTL when its holder died. So two workers never consume one partition at once.
 * - Checkpoint: per device `snap.<id>` = detector snapshot + the stream sequence of the last
 *   message folded into it + how many readings it folded; then per partition `seq.<p>` = the
 *   last stream sequence whose effects are stored. A new owner consumes from `seq.<p>` + 1 and
 *   skips a device's messages at or below its recorded sequence: every message is folded into
 *   a device's detector exactly once, and its baselines come with it (no new warm-up).
 */
import type { Logger } from 'pino'
import { DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream'
import { ownerOf, type ApplianceType, type DeviceEventV1, type Reading } from '../domain/index.ts'
import type { Detector } from '../detectors/index.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { Pipeline } from '../cli/pipeline.ts'
import { metricsOf } from '../ingest/index.ts'
import { KIND_READING } from '../ingest/journal.ts'
import type { ClusterNode } from './index.ts'
import { subjectOf } from './nats.ts'
import type { StreamRow } from './stream-writer.ts'

/** What a device's checkpoint holds besides its snapshot. */
export interface DeviceCheckpoint {
  /** Stream sequence of the last message folded into the detector. */
  q: number
  /** Readings folded into this device's detector, across owners. */
  n: number
  snap: string | null
}

export interface WorkerOptions {
  node: ClusterNode
  pipeline: Pick<Pipeline, 'lookupDevice' | 'remember' | 'onReadings' | 'onDeviceEvent' | 'takeSnapshots' | 'markDirty' | 'flushHealth' | 'settled'>
  detector: Pick<Detector, 'ensureDevice' | 'hasDevice' | 'removeDevice'>
  store: Pick<AsyncRecordsStore, 'getDevice'>
  log: Logger
  checkpointMs: number
}

export interface Worker {
  id: string
  /** Partitions this worker consumes now. */
  owned(): number[]
  /** Live workers as this one sees them. */
  members(): string[]
  /** Per owned partition: messages in the stream after the last one folded. */
  lag(): Map<number, number>
  /** Readings folded into detectors by this worker, and messages skipped as already folded. */
  stats(): { readings: number; skipped: number; takes: number; releases: number; lostClaims: number; claims: number; rebalancing: boolean }
  checkpoint(): Promise<void>
  stop(): Promise<void>
}

interface Held {
  p: number
  messages: ConsumerMessages | null
  loop: Promise<void> | null
  /** Last stream sequence folded (its effects queued in the pipeline). */
  lastSeq: number
  /** Last `seq.<p>` written. */
  savedSeq: number
  /** Messages in the partition after the last one received (the consumer's count). */
  pending: number
  devices: Set<string>
}

const partitionKey = (p: number): string => `part.${p}`

export async function startWorker(o: WorkerOptions): Promise<Worker> {
  const { node, pipeline, detector, log } = o
  const { names, leaseTtlMs } = node.settings
  const me = node.id
  const heartbeatMs = Math.max(200, Math.floor(leaseTtlMs / 3))
  const held = new Map<number, Held>()
  const taking = new Set<number>()
  /** Claims this worker holds (partition → KV revision), renewed on their own timer. */
  const claims = new Map<number, number>()
  const devices = new Map<string, DeviceCheckpoint>()
  const stats = { readings: 0, skipped: 0, takes: 0, releases: 0, lostClaims: 0 }
  let stopped = false

  const live = (): string[] => node.members().filter((m) => m.id === me || m.roles.includes('worker')).map((m) => m.id)
  const lag = (): Map<number, number> => new Map([...held.values()].map((h) => [h.p, h.pending]))
  node.report(() => ({ partitions: Object.fromEntries(lag()) }))

  /** The device as of its last checkpoint, in this process's detector (replacing stale state). */
  async function restore(deviceId: string, h: Held): Promise<DeviceCheckpoint | null> {
    let info = pipeline.lookupDevice(deviceId)
    if (!info) {
      const d = await o.store.getDevice(deviceId)
      if (!d) return null
      pipeline.remember(d)
      info = pipeline.lookupDevice(deviceId)
      if (!info) return null
    }
    const entry = await node.checkpoints.get(`snap.${deviceId}`)
    const cp: DeviceCheckpoint = entry && entry.operation === 'PUT' ? entry.json<DeviceCheckpoint>() : { q: 0, n: 0, snap: null }
    if (detector.hasDevice(deviceId)) detector.removeDevice(deviceId)
    detector.ensureDevice(deviceId, info.type as ApplianceType, cp.snap ?? undefined)
    devices.set(deviceId, cp)
    h.devices.add(deviceId)
    return cp
  }

  async function handle(h: Held, m: JsMsg): Promise<void> {
    h.pending = m.info.pending
    const row = m.json<StreamRow>()
    const cp = devices.get(row.d) ?? await restore(row.d, h)
    if (cp === null) {
      log.warn({ deviceId: row.d }, 'a reading of a device not in the registry: skipped')
    } else if (m.seq <= cp.q) {
      stats.skipped++
    } else if (row.k === KIND_READING) {
      const reading: Reading = { deviceId: row.d, boot: row.b, seq: row.s, ts: row.t, metrics: metricsOf(row.m, row.s) }
      // Folded into the detector before onReadings' first await, so q and n describe the state.
      const done = pipeline.onReadings([reading])
      cp.q = m.seq
      cp.n++
      stats.readings++
      h.lastSeq = m.seq
      await done
      return
    } else {
      const body = JSON.parse(row.m) as { code: string; detail?: string }
      const ev: DeviceEventV1 = { v: 1, ts: row.t, code: body.code }
      if (body.detail !== undefined) ev.detail = body.detail
      pipeline.onDeviceEvent(row.d, ev)
      cp.q = m.seq
    }
    h.lastSeq = m.seq
  }

  async function consume(h: Held): Promise<void> {
    for (;;) {
      if (stopped || !held.has(h.p)) return
      try {
        const consumer = await node.js.consumers.get(names.stream, {
          filter_subjects: subjectOf(names, h.p),
          ...(h.lastSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: h.lastSeq + 1 } : { deliver_policy: DeliverPolicy.All }),
        })
        const messages = await consumer.consume({ max_messages: 512 })
        h.messages = messages
        if (!held.has(h.p)) messages.stop()
        for await (const m of messages) await handle(h, m)
        return
      } catch (err) {
        // A consumer cannot be created while the cluster elects leaders (a node went away): retry.
        if (stopped || !held.has(h.p)) return
        log.warn({ err, partition: h.p }, 'partition consumer failed; retrying')
        await new Promise((r) => setTimeout(r, 500))
      }
    }
  }

  async function take(p: number): Promise<void> {
    try {
      claims.set(p, await node.leases.create(partitionKey(p), me))
    } catch {
      return // still held by its previous owner: retried at the next heartbeat
    }
    try {
      const saved = await node.checkpoints.get(`seq.${p}`)
      const seq = saved && saved.operation === 'PUT' ? Number(saved.string()) : 0
      const h: Held = { p, messages: null, loop: null, lastSeq: seq, savedSeq: seq, pending: 0, devices: new Set() }
      held.set(p, h)
      stats.takes++
      h.loop = consume(h)
      log.info({ partition: p, fromSeq: seq + 1 }, 'partition taken')
    } catch (err) {
      claims.delete(p)
      await node.leases.delete(partitionKey(p)).catch(() => undefined)
      throw err
    }
  }

  /** Drops what this process knows of a partition's devices (a later take restores them). */
  function forgetDevices(h: Held): void {
    for (const id of h.devices) {
      devices.delete(id)
      if (detector.hasDevice(id)) detector.removeDevice(id)
    }
  }

  /**
   * Renews every claim, including those of partitions being given away (their final checkpoint
   * must finish under the claim). A claim that lapsed (this process stalled longer than the TTL)
   * is created again if nobody took it meanwhile; otherwise the partition stops here at once,
   * without a checkpoint of ours: its new owner resumes from the last one.
   */
  let renewing = false
  async function renewClaims(): Promise<void> {
    if (renewing) return
    renewing = true
    try {
      await Promise.all([...claims].map(async ([p, rev]) => {
        // A claim given up meanwhile (release) must not come back: check after every await.
        try {
          const next = await node.leases.update(partitionKey(p), me, rev)
          if (claims.has(p)) claims.set(p, next)
        } catch {
          if (!claims.has(p)) return
          try {
            const again = await node.leases.create(partitionKey(p), me)
            if (claims.has(p)) claims.set(p, again)
            else await node.leases.delete(partitionKey(p))
          } catch (err) {
            if (!claims.has(p)) return
            log.error({ err, partition: p }, 'partition claim lost to another worker; stopping it')
            stats.lostClaims++
            claims.delete(p)
            const h = held.get(p)
            if (h) {
              held.delete(p)
              h.messages?.stop()
              await h.loop
              forgetDevices(h)
            }
          }
        }
      }))
    } finally {
      renewing = false
    }
  }

  let checkpointing: Promise<void> | null = null
  let again = false
  async function writeCheckpoint(): Promise<void> {
    const snaps = pipeline.takeSnapshots()
    const records: [string, DeviceCheckpoint][] = []
    for (const [id, snap] of snaps) {
      const cp = devices.get(id)
      if (cp) records.push([id, { q: cp.q, n: cp.n, snap }])
    }
    const seqs = [...held.values()].filter((h) => h.lastSeq > h.savedSeq).map((h) => [h, h.lastSeq] as const)
    try {
      await pipeline.flushHealth()
      await pipeline.settled()
      // Snapshots before sequences: a sequence must never pass a snapshot that is not stored.
      await Promise.all(records.map(([id, cp]) => node.checkpoints.put(`snap.${id}`, JSON.stringify(cp))))
      await Promise.all(seqs.map(([h, seq]) => node.checkpoints.put(`seq.${h.p}`, String(seq)).then(() => { h.savedSeq = Math.max(h.savedSeq, seq) })))
    } catch (err) {
      for (const [id] of snaps) pipeline.markDirty(id)
      throw err
    }
  }
  /** Runs a checkpoint that starts after now (joining one queued, not one in flight). */
  function checkpoint(): Promise<void> {
    if (checkpointing) {
      again = true
      return checkpointing.then(() => (checkpointing ? checkpointing : checkpoint()))
    }
    checkpointing = (async () => {
      try {
        do {
          again = false
          await writeCheckpoint()
        } while (again)
      } finally {
        checkpointing = null
      }
    })()
    return checkpointing
  }

  /** Stops consuming, writes the final checkpoint under the claim, then gives the claim up. */
  async function release(p: number): Promise<void> {
    const h = held.get(p)
    if (!h) return
    held.delete(p)
    h.messages?.stop()
    await h.loop
    // Still counted in the checkpoint: put it back for the final write, then drop it.
    held.set(p, h)
    try {
      await checkpoint()
    } catch (err) {
      // Not given away without its checkpoint: keep consuming it and try again later.
      if (stopped) held.delete(p)
      else h.loop = consume(h)
      throw err
    }
    held.delete(p)
    forgetDevices(h)
    stats.releases++
    // Forgotten before the key goes, so a renewal in flight cannot create it again.
    claims.delete(p)
    await node.leases.delete(partitionKey(p))
    log.info({ partition: p }, 'partition released')
  }

  let balancing = false
  async function rebalance(): Promise<void> {
    if (balancing || stopped) return
    balancing = true
    try {
      const workers = live()
      // Given away together: their final checkpoints share one write.
      const leaving = [...held.keys()].filter((p) => ownerOf(`p${p}`, workers) !== me)
      await Promise.all(leaving.map((p) => release(p).catch((err: unknown) => log.error({ err, partition: p }, 'giving a partition away failed; retried'))))
      const wanted: number[] = []
      for (let p = 0; p < names.partitions; p++) if (!held.has(p) && !taking.has(p) && ownerOf(`p${p}`, workers) === me) wanted.push(p)
      await Promise.all(wanted.map(async (p) => {
        taking.add(p)
        try {
          await take(p)
        } catch (err) {
          log.warn({ err, partition: p }, 'taking a partition failed; retrying')
        } finally {
          taking.delete(p)
        }
      }))
    } finally {
      balancing = false
    }
  }

  const heartbeat = setInterval(() => void rebalance().catch((err: unknown) => log.warn({ err }, 'rebalancing failed; retried')), heartbeatMs)
  const renewal = setInterval(() => void renewClaims(), heartbeatMs)
  const checkpointTimer = setInterval(() => void checkpoint().catch((err: unknown) => log.error({ err }, 'cluster checkpoint failed; retried')), o.checkpointMs)
  // Give the watch a moment to deliver the members already there, so the first rebalance does
  // not take every partition only to give most of them back.
  await new Promise((r) => setTimeout(r, Math.min(500, heartbeatMs)))
  await rebalance()

  return {
    id: me,
    owned: () => [...held.keys()].sort((a, b) => a - b),
    members: live,
    lag,
    stats: () => ({ ...stats, claims: claims.size, rebalancing: balancing }),
    checkpoint,
    async stop() {
      if (stopped) return
      stopped = true
      clearInterval(heartbeat)
      clearInterval(checkpointTimer)
      clearInterval(renewal)
      while (balancing) await new Promise((r) => setTimeout(r, 20))
      for (const p of [...held.keys()]) await release(p).catch((err: unknown) => log.error({ err, partition: p }, 'releasing a partition failed'))
      node.report(() => ({}))
      await node.beat().catch(() => undefined)
    },
  }
}

/**
 * A worker in a cluster (docs/scaling.md): owns partitions of the readings stream, chosen by
 * rendezvous hashing over the live worker set, and feeds their readings to this process's
 * pipeline (detector → records store), as ingest does in one process.
 *
 * - Live set: the live members (cluster/index.ts) with the worker role. Each reports its
 *   partitions and their lag in its lease, which is what GET /cluster shows.
 * - Claims: a partition is consumed only under `part.<p>`, taken with create (fails while held),
 *   renewed with each heartbeat, deleted after the final checkpoint when given away, expired
 *   after the TTL when its holder died.
 * - Fencing: a worker folds a message, and writes a checkpoint, only while its claim is trusted
 *   (the put that last renewed it was sent less than two thirds of the TTL ago), and every
 *   checkpoint write is conditional on the KV revision it last read or wrote. A worker that
 *   stalled past its lease stops folding when it wakes, and a renewal or checkpoint that finds
 *   its revision gone drops the partition's state; it takes the partition again, from the
 *   checkpoint, only by winning a new claim. So two workers never fold one partition at once.
 * - Checkpoint: per device `snap.<id>` = detector snapshot + the stream sequence of the last
 *   message folded into it + how many readings it folded; then per partition `seq.<p>` = the
 *   last stream sequence whose effects are stored. A new owner consumes from `seq.<p>` + 1 and
 *   skips a device's messages at or below its recorded sequence: every message is folded into
 *   a device's detector exactly once, and its baselines come with it (no new warm-up).
 */
import type { Logger } from 'pino'
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream'
import { ownerOf, partitionOf, type ApplianceType, type DeviceEventV1, type Reading } from '../domain/index.ts'
import type { Detector } from '../detectors/index.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { Pipeline } from '../cli/pipeline.ts'
import { metricsOf } from '../ingest/index.ts'
import { KIND_READING } from '../ingest/journal.ts'
import type { ClusterNode } from './index.ts'
import { subjectOf } from './nats.ts'
import { rowsOf, type StreamRow } from './stream-writer.ts'

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
  stats(): { readings: number; skipped: number; takes: number; releases: number; lostClaims: number; fencedWaits: number; claims: number; rebalancing: boolean }
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
  /** KV revision of `seq.<p>` as this worker last read or wrote it (0: none yet). */
  seqRev: number
  /** Messages in the partition after the last one received (the consumer's count). */
  pending: number
  devices: Set<string>
  /** Being given away: the consumer stops, the partition stays for its final checkpoint. */
  releasing: boolean
  /** Given up without a checkpoint (claim lapsed or a checkpoint revision moved): fold nothing more. */
  dropped: boolean
  /** The last checkpoint skipped this partition because its claim was not trusted. */
  behind: boolean
}

/** A device's checkpoint as this worker holds it, with the KV revision of `snap.<id>` it read or wrote. */
interface Local extends DeviceCheckpoint { rev: number }

/** A claim held: its KV revision and when the put that set it was sent (the lease runs from then at the latest). */
interface Claim { rev: number; sentAt: number }

const partitionKey = (p: number): string => `part.${p}`

/** The KV refused a write because the key's revision is no longer the one this worker holds. */
const revisionMoved = (err: unknown): boolean => err instanceof JetStreamApiError
  && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function startWorker(o: WorkerOptions): Promise<Worker> {
  const { node, pipeline, detector, log } = o
  const { names, leaseTtlMs } = node.settings
  const me = node.id
  const heartbeatMs = Math.max(200, Math.floor(leaseTtlMs / 3))
  // The server expires a claim TTL after it stored the put, which is after this worker sent it;
  // a third of the TTL is left as margin for a write issued just before the limit to land.
  const trustMs = leaseTtlMs - Math.floor(leaseTtlMs / 3)
  const held = new Map<number, Held>()
  const taking = new Set<number>()
  /** Partitions given up whose consumer is still winding down: not taken again before it ends. */
  const dropping = new Map<number, Promise<void>>()
  /** Claims this worker holds, renewed on their own timer. */
  const claims = new Map<number, Claim>()
  const devices = new Map<string, Local>()
  const stats = { readings: 0, skipped: 0, takes: 0, releases: 0, lostClaims: 0, fencedWaits: 0 }
  let stopped = false

  const live = (): string[] => node.members().filter((m) => m.id === me || m.roles.includes('worker')).map((m) => m.id)
  const lag = (): Map<number, number> => new Map([...held.values()].map((h) => [h.p, h.pending]))
  node.report(() => ({ partitions: Object.fromEntries(lag()) }))
  const consuming = (h: Held): boolean => !stopped && !h.dropped && !h.releasing && held.get(h.p) === h
  /** Whether this worker may still act as the partition's owner: its claim was renewed recently enough. */
  const trusted = (p: number): boolean => {
    const c = claims.get(p)
    return c !== undefined && Date.now() - c.sentAt < trustMs
  }

  /** The device as of its last checkpoint, in this process's detector (replacing stale state). */
  async function restore(deviceId: string, h: Held): Promise<Local | null> {
    let info = pipeline.lookupDevice(deviceId)
    if (!info) {
      const d = await o.store.getDevice(deviceId)
      if (!d) return null
      pipeline.remember(d)
      info = pipeline.lookupDevice(deviceId)
      if (!info) return null
    }
    const entry = await node.checkpoints.get(`snap.${deviceId}`)
    const stored = entry && entry.operation === 'PUT' ? entry.json<DeviceCheckpoint>() : { q: 0, n: 0, snap: null }
    const cp: Local = { ...stored, rev: entry?.revision ?? 0 }
    if (detector.hasDevice(deviceId)) detector.removeDevice(deviceId)
    detector.ensureDevice(deviceId, info.type as ApplianceType, cp.snap ?? undefined)
    devices.set(deviceId, cp)
    h.devices.add(deviceId)
    return cp
  }

  /**
   * Fencing before a fold: waits while the claim is not trusted (a stall, a slow renewal) and
   * answers whether the partition is still this worker's. A renewal that finds the claim taken
   * or lapsed drops the partition, which ends the wait with false.
   */
  async function mayFold(h: Held): Promise<boolean> {
    if (trusted(h.p)) return !h.dropped
    stats.fencedWaits++
    void renewClaims()
    while (!h.dropped && !stopped && !trusted(h.p)) await sleep(20)
    return !h.dropped && !stopped
  }

  /**
   * One stream message: a partition's rows of one edge group, in arrival order (an older edge
   * wrote one row per message). Its devices are restored first, then the fence is checked, then
   * every row is folded with no await in between, so the fold is synchronous from the check and
   * a device's `q` moves to this message only with all of its rows in it folded.
   */
  async function handle(h: Held, m: JsMsg): Promise<void> {
    if (h.dropped) return
    h.pending = m.info.pending
    const rows = rowsOf(m.json<StreamRow | StreamRow[]>())
    const cps = new Map<string, Local | null>()
    for (const row of rows) if (!cps.has(row.d)) cps.set(row.d, devices.get(row.d) ?? await restore(row.d, h))
    // Checked last before the fold, which is synchronous from here.
    if (!await mayFold(h)) return
    const done: Promise<void>[] = []
    let readings: Reading[] = []
    for (const row of rows) {
      const cp = cps.get(row.d) as Local | null
      if (cp === null) continue
      if (m.seq <= cp.q) {
        stats.skipped++
      } else if (row.k === KIND_READING) {
        readings.push({ deviceId: row.d, boot: row.b, seq: row.s, ts: row.t, metrics: metricsOf(row.m, row.s) })
        cp.n++
        stats.readings++
      } else {
        // A device's event after its readings before it, as in the stream.
        if (readings.length > 0) done.push(pipeline.onReadings(readings))
        readings = []
        const body = JSON.parse(row.m) as { code: string; detail?: string }
        const ev: DeviceEventV1 = { v: 1, ts: row.t, code: body.code }
        if (body.detail !== undefined) ev.detail = body.detail
        pipeline.onDeviceEvent(row.d, ev)
      }
    }
    // Folded into the detectors before onReadings' first await, so q and n describe the state.
    if (readings.length > 0) done.push(pipeline.onReadings(readings))
    for (const [deviceId, cp] of cps) {
      if (cp === null) log.warn({ deviceId }, 'a reading of a device not in the registry: skipped')
      else if (cp.q < m.seq) cp.q = m.seq
    }
    h.lastSeq = m.seq
    if (done.length > 0) await Promise.all(done)
  }

  async function consume(h: Held): Promise<void> {
    for (;;) {
      if (!consuming(h)) return
      try {
        const consumer = await node.js.consumers.get(names.stream, {
          filter_subjects: subjectOf(names, h.p),
          ...(h.lastSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: h.lastSeq + 1 } : { deliver_policy: DeliverPolicy.All }),
        })
        const messages = await consumer.consume({ max_messages: 512 })
        h.messages = messages
        if (!consuming(h)) messages.stop()
        for await (const m of messages) await handle(h, m)
        return
      } catch (err) {
        // A consumer cannot be created while the cluster elects leaders (a node went away): retry.
        if (!consuming(h)) return
        log.warn({ err, partition: h.p }, 'partition consumer failed; retrying')
        await sleep(500)
      }
    }
  }

  async function take(p: number): Promise<void> {
    const sentAt = Date.now()
    let claim: Claim
    try {
      claim = { rev: await node.leases.create(partitionKey(p), me), sentAt }
    } catch {
      return // still held by its previous owner: retried at the next heartbeat
    }
    claims.set(p, claim)
    try {
      const saved = await node.checkpoints.get(`seq.${p}`)
      // Lost while reading (a stall past the TTL): nothing of it is held yet.
      if (claims.get(p) !== claim) return
      const seq = saved && saved.operation === 'PUT' ? Number(saved.string()) : 0
      const h: Held = {
        p, messages: null, loop: null, lastSeq: seq, savedSeq: seq, seqRev: saved?.revision ?? 0, pending: 0, devices: new Set(),
        releasing: false, dropped: false, behind: false,
      }
      held.set(p, h)
      stats.takes++
      h.loop = consume(h)
      log.info({ partition: p, fromSeq: seq + 1 }, 'partition taken')
    } catch (err) {
      claims.delete(p)
      await node.leases.delete(partitionKey(p), { previousSeq: claim.rev }).catch(() => undefined)
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
   * Gives a partition up at once, without a checkpoint of ours: its claim lapsed or another
   * worker wrote its checkpoints. Its in-memory state is thrown away; whoever holds the claim
   * next (this worker again, maybe) resumes from the stored checkpoint.
   */
  function drop(p: number, why: string): void {
    const h = held.get(p)
    if (!claims.delete(p) && !h) return
    stats.lostClaims++
    log.error({ partition: p }, `${why}; partition dropped without a checkpoint`)
    if (!h) return
    held.delete(p)
    h.dropped = true
    h.messages?.stop()
    // Forgotten only once its consumer ended, and not taken again before that.
    dropping.set(p, (async () => {
      await h.loop
      forgetDevices(h)
    })().finally(() => dropping.delete(p)))
  }

  /**
   * A claim that lapsed while nobody took it (a renewal slower than the TTL) is created again
   * and kept, with this worker's state, only if no other owner wrote the partition's checkpoint
   * meanwhile (`seq.<p>` still at the revision this worker holds): then its state is still the
   * partition's latest, and the replay a drop would cause is saved. A snapshot written by an
   * owner that lost its claim before writing `seq.<p>` makes the next conditional write fail,
   * which drops the partition then.
   */
  async function reclaim(p: number, c: Claim): Promise<boolean> {
    const h = held.get(p)
    if (!h) return false
    const sentAt = Date.now()
    let rev: number
    try {
      rev = await node.leases.create(partitionKey(p), me)
    } catch {
      return false // another worker holds it
    }
    const saved = await node.checkpoints.get(`seq.${p}`).catch(() => undefined)
    if (claims.get(p) === c && held.get(p) === h && saved !== undefined && (saved?.revision ?? 0) === h.seqRev) {
      c.rev = rev
      c.sentAt = sentAt
      log.warn({ partition: p }, 'partition claim had lapsed with nobody taking it; claimed again')
      return true
    }
    await node.leases.delete(partitionKey(p), { previousSeq: rev }).catch(() => undefined)
    return false
  }

  /**
   * Renews every claim, including those of partitions being given away (their final checkpoint
   * must finish under the claim). A claim whose revision is gone (this process stalled longer
   * than the TTL, and the claim expired or another worker took it) is claimed again only as
   * `reclaim` allows; otherwise the partition is dropped, and a later rebalance takes it afresh
   * from the checkpoint. A renewal that fails otherwise (NATS unreachable) is retried; meanwhile
   * trust runs out by time.
   */
  let renewing: Promise<void> | null = null
  function renewClaims(): Promise<void> {
    renewing ??= (async () => {
      try {
        await Promise.all([...claims].map(async ([p, c]) => {
          const sentAt = Date.now()
          try {
            c.rev = await node.leases.update(partitionKey(p), me, c.rev)
            c.sentAt = sentAt
          } catch (err) {
            // Given up meanwhile (release, drop): nothing to do.
            if (claims.get(p) !== c) return
            if (!revisionMoved(err)) log.warn({ err, partition: p }, 'renewing a partition claim failed; retried')
            else if (!await reclaim(p, c)) drop(p, 'partition claim lapsed or taken by another worker')
          }
        }))
      } finally {
        renewing = null
      }
    })()
    return renewing
  }

  /** Writes one partition's checkpoint: its devices' snapshots, then its sequence (fenced). */
  async function writePartition(h: Held, records: [string, Local, string][], seq: number): Promise<void> {
    if (h.dropped) return
    // Fencing: a claim not trusted any more writes nothing; the snapshots wait for a renewal.
    if (!trusted(h.p)) {
      for (const [id] of records) pipeline.markDirty(id)
      h.behind = true
      return
    }
    const kv = node.checkpoints
    try {
      // Each write only over the revision this worker holds: one written by another owner fails.
      await Promise.all(records.map(async ([id, cp, value]) => {
        cp.rev = cp.rev > 0 ? await kv.update(`snap.${id}`, value, cp.rev) : await kv.create(`snap.${id}`, value)
      }))
      // Snapshots before sequences: a sequence must never pass a snapshot that is not stored.
      if (seq > h.savedSeq && !h.dropped) {
        if (!trusted(h.p)) {
          h.behind = true
          return
        }
        h.seqRev = h.seqRev > 0 ? await kv.update(`seq.${h.p}`, String(seq), h.seqRev) : await kv.create(`seq.${h.p}`, String(seq))
        h.savedSeq = seq
      }
      h.behind = false
    } catch (err) {
      if (revisionMoved(err)) return drop(h.p, 'a checkpoint of the partition was written by another worker')
      for (const [id] of records) pipeline.markDirty(id)
      throw err
    }
  }

  let checkpointing: Promise<void> | null = null
  let again = false
  async function writeCheckpoint(): Promise<void> {
    const snaps = pipeline.takeSnapshots()
    const parts = new Map<Held, [string, Local, string][]>()
    for (const [id, snap] of snaps) {
      const cp = devices.get(id)
      const h = held.get(partitionOf(id, names.partitions))
      if (!cp || !h) continue
      const records = parts.get(h) ?? []
      records.push([id, cp, JSON.stringify({ q: cp.q, n: cp.n, snap } satisfies DeviceCheckpoint)])
      parts.set(h, records)
    }
    const seqs = new Map([...held.values()].map((h) => [h, h.lastSeq] as const))
    try {
      await pipeline.flushHealth()
      await pipeline.settled()
    } catch (err) {
      for (const [id] of snaps) pipeline.markDirty(id)
      throw err
    }
    const due = [...seqs].filter(([h, seq]) => parts.has(h) || seq > h.savedSeq || h.behind)
    const results = await Promise.allSettled(due.map(([h, seq]) => writePartition(h, parts.get(h) ?? [], seq)))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
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
    if (!h || h.releasing) return
    if (!trusted(p)) {
      // The final checkpoint needs a trusted claim: given away after the renewal says whose it is.
      // On stop there is no later: the partition stops here, and its claim expires.
      if (stopped) {
        held.delete(p)
        h.messages?.stop()
        await h.loop
      } else void renewClaims()
      throw new Error('the partition claim is not trusted now; its final checkpoint is not written')
    }
    h.releasing = true
    h.messages?.stop()
    await h.loop
    let error: unknown = null
    try {
      await checkpoint()
    } catch (err) {
      error = err
    }
    if (h.dropped) return // lost meanwhile: dropped without a checkpoint of ours
    if (error === null && (h.behind || h.savedSeq < h.lastSeq)) error = new Error('the final checkpoint waits for a trusted claim')
    if (error !== null) {
      // Not given away without its checkpoint: keep consuming it and try again later.
      h.releasing = false
      if (stopped) held.delete(p)
      else h.loop = consume(h)
      throw error
    }
    held.delete(p)
    forgetDevices(h)
    stats.releases++
    // Forgotten before the key goes, so no renewal touches it; one in flight ends first, so the
    // delete names the claim's last revision (and cannot delete another worker's claim).
    const claim = claims.get(p)
    claims.delete(p)
    await renewing
    if (claim) await node.leases.delete(partitionKey(p), { previousSeq: claim.rev })
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
      for (let p = 0; p < names.partitions; p++) if (!held.has(p) && !taking.has(p) && !dropping.has(p) && ownerOf(`p${p}`, workers) === me) wanted.push(p)
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
  await sleep(Math.min(500, heartbeatMs))
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
      while (balancing) await sleep(20)
      for (const p of [...held.keys()]) await release(p).catch((err: unknown) => log.error({ err, partition: p }, 'releasing a partition failed'))
      node.report(() => ({}))
      await node.beat().catch(() => undefined)
    },
  }
}

/**
 * A Forewarn process's part in a cluster (docs/scaling.md): one NATS connection, the stream and
 * buckets ensured, and per role what it adds to the composition root. The edge's part is the
 * stream writer ingest commits to; the worker's is cluster/worker.ts.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import type { KV, KvWatchEntry } from '@nats-io/kv'
import { headers, type QueuedIterator } from '@nats-io/transport-node'
import type { Journal } from '../ingest/journal.ts'
import type { JournalWriter } from '../ingest/journal-writer.ts'
import { connectCluster, defaultSettings, ensureClusterResources, type ClusterSettings } from './nats.ts'
import { streamWriter, type StreamWriterStats } from './stream-writer.ts'

export type Role = 'edge' | 'worker' | 'api'

/** Core NATS (at most once, like a QoS 1 publish to a client that is not connected). */
const OUT_SUBJECT = 'forewarn.out'
const TOPIC_HEADER = 'Forewarn-Mqtt-Topic'

export interface ClusterNodeOptions {
  urls: readonly string[]
  roles: readonly Role[]
  settings?: Partial<ClusterSettings>
  log: Logger
}

/** What a process says about itself in its `member.<id>` lease. */
export interface MemberReport {
  roles: Role[]
  /** A worker's partitions, each with its lag: messages in the stream not yet folded. */
  partitions?: Record<string, number>
}

export interface Member extends MemberReport { id: string }

/** GET /cluster (docs/scaling.md). */
export interface ClusterView {
  self: string
  members: Member[]
  partitions: { partition: number; owner: string | null; lag: number | null }[]
}

export interface ClusterNode {
  /** This process in the cluster: `<host>-<pid>-<random>`. */
  id: string
  roles: readonly Role[]
  settings: ClusterSettings
  nc: NatsConnection
  js: JetStreamClient
  leases: KV
  checkpoints: KV
  has(role: Role): boolean
  /** Live processes (their lease put seen within the TTL), this one included, sorted by id. */
  members(): Member[]
  /** What this process reports in its lease besides its roles (the worker's partitions). */
  report(fn: () => Omit<MemberReport, 'roles'>): void
  /** Puts this process's lease now (the heartbeat does it every third of the TTL). */
  beat(): Promise<void>
  view(): ClusterView
  /**
   * The bus between edges: an MQTT message for devices or service clients (a warning) goes to
   * every edge, which publishes it on its own broker, so it reaches a client on any edge.
   */
  publishOut(topic: string, payload: Buffer): void
  /** An edge's side of the bus: `deliver` publishes on this process's broker. */
  onOut(deliver: (topic: string, payload: Buffer) => Promise<void>): void
  /** The edge's commit point, for `createIngest({ writer })`. */
  edgeWriter(journal: Journal): JournalWriter
  edgeStats(): StreamWriterStats
  close(): Promise<void>
}

export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const settings: ClusterSettings = { ...defaultSettings, ...o.settings }
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  const nc = await connectCluster(o.urls, `forewarn ${id}`)
  const log = o.log
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') log.warn({ status: s.type, server: 'server' in s ? s.server : undefined }, 'NATS connection')
    }
  })()
  let resources
  try {
    resources = await ensureClusterResources(nc, settings)
  } catch (err) {
    await nc.close()
    throw err
  }
  const js = jetstream(nc)
  let writer: ReturnType<typeof streamWriter> | null = null
  const { leases } = resources

  // Membership: every process puts `member.<id>` every third of the TTL and watches the others'.
  // NATS 2.9 drops an expired entry without a delete marker, so a crash is seen as silence.
  const seen = new Map<string, { at: number; report: MemberReport }>()
  let extra: () => Omit<MemberReport, 'roles'> = () => ({})
  const ownReport = (): MemberReport => ({ roles: [...o.roles], ...extra() })
  const beat = async (): Promise<void> => {
    const r = ownReport()
    await leases.put(`member.${id}`, JSON.stringify(r))
    seen.set(id, { at: Date.now(), report: r })
  }
  let watch: QueuedIterator<KvWatchEntry>
  try {
    await beat()
    watch = await leases.watch({ key: 'member.>' })
  } catch (err) {
    await nc.close()
    throw err
  }
  void (async () => {
    for await (const e of watch) {
      const member = e.key.slice('member.'.length)
      if (e.operation === 'PUT') seen.set(member, { at: Date.now(), report: e.json<MemberReport>() })
      else seen.delete(member)
    }
  })()
  const heartbeat = setInterval(() => void beat().catch((err: unknown) => log.warn({ err }, 'cluster lease put failed')), Math.max(200, Math.floor(settings.leaseTtlMs / 3)))
  const members = (): Member[] => {
    const now = Date.now()
    return [...seen].filter(([m, v]) => m === id || now - v.at < settings.leaseTtlMs)
      .map(([m, v]) => ({ id: m, ...(m === id ? ownReport() : v.report) }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  return {
    id, roles: o.roles, settings, nc, js, leases, checkpoints: resources.checkpoints,
    has: (role) => o.roles.includes(role),
    members,
    report(fn) {
      extra = fn
    },
    beat,
    view() {
      const ms = members()
      const partitions = Array.from({ length: settings.names.partitions }, (_, p) => {
        const owner = ms.find((m) => m.partitions?.[p] !== undefined)
        return { partition: p, owner: owner?.id ?? null, lag: owner?.partitions?.[p] ?? null }
      })
      return { self: id, members: ms, partitions }
    },
    edgeWriter(journal) {
      writer = streamWriter({ js, names: settings.names, journal, writerId: id })
      return writer
    },
    edgeStats: () => writer?.stats() ?? { published: 0, messages: 0, resent: 0, duplicates: 0, failedPublishes: 0 },
    publishOut(topic, payload) {
      const h = headers()
      h.set(TOPIC_HEADER, topic)
      nc.publish(OUT_SUBJECT, payload, { headers: h })
    },
    onOut(deliver) {
      const sub = nc.subscribe(OUT_SUBJECT)
      void (async () => {
        for await (const m of sub) {
          const topic = m.headers?.get(TOPIC_HEADER)
          if (topic) await deliver(topic, Buffer.from(m.data)).catch((err: unknown) => log.warn({ err, topic }, 'forwarding a cluster message to MQTT failed'))
        }
      })()
    },
    async close() {
      clearInterval(heartbeat)
      if (nc.isClosed()) return
      watch.stop()
      await leases.delete(`member.${id}`).catch(() => undefined)
      await nc.drain().catch(() => nc.close())
    },
  }
}

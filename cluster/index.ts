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
import type { KV } from '@nats-io/kv'
import type { Journal } from '../ingest/journal.ts'
import type { JournalWriter } from '../ingest/journal-writer.ts'
import { connectCluster, defaultSettings, ensureClusterResources, type ClusterSettings } from './nats.ts'
import { streamWriter, type StreamWriterStats } from './stream-writer.ts'

export type Role = 'edge' | 'worker' | 'api'

export interface ClusterNodeOptions {
  urls: readonly string[]
  roles: readonly Role[]
  settings?: Partial<ClusterSettings>
  log: Logger
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
  return {
    id, roles: o.roles, settings, nc, js, leases: resources.leases, checkpoints: resources.checkpoints,
    has: (role) => o.roles.includes(role),
    edgeWriter(journal) {
      writer = streamWriter({ js, names: settings.names, journal })
      return writer
    },
    edgeStats: () => writer?.stats() ?? { published: 0, duplicates: 0, failedPublishes: 0 },
    async close() {
      if (nc.isClosed()) return
      await nc.drain().catch(() => nc.close())
    },
  }
}

/**
 * The cluster's names on NATS JetStream and how they are created (docs/scaling.md): one stream of
 * readings with a subject per partition, a KV bucket of worker leases (TTL) and a KV bucket of
 * checkpoints. Creating is idempotent, so every process ensures what it uses at start-up.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager, type JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

export interface ClusterNames {
  stream: string
  /** Subjects are `${subjectPrefix}.<partition>`. */
  subjectPrefix: string
  partitions: number
  leases: string
  checkpoints: string
}

export const defaultNames: ClusterNames = {
  stream: 'FOREWARN_READINGS',
  subjectPrefix: 'forewarn.readings',
  partitions: 64,
  leases: 'forewarn-leases',
  checkpoints: 'forewarn-checkpoints',
}

export interface ClusterSettings {
  names: ClusterNames
  /** Stream and bucket replicas: 3 on a three-node cluster, at most the node count. */
  replicas: number
  /** A worker's lease lives this long without renewal; it renews every third of it. */
  leaseTtlMs: number
  /** The stream drops a repeated message id (device, boot, seq) within this window. */
  duplicateWindowMs: number
  /** Readings older than this leave the stream (workers checkpoint far more often). */
  maxAgeMs: number
}

export const defaultSettings: ClusterSettings = {
  names: defaultNames,
  replicas: 3,
  leaseTtlMs: 6_000,
  duplicateWindowMs: 10 * 60_000,
  maxAgeMs: 7 * 24 * 3600_000,
}

export const subjectOf = (names: ClusterNames, partition: number): string => `${names.subjectPrefix}.${partition}`

const ms = (n: number): number => n * 1_000_000

export async function connectCluster(urls: readonly string[], name: string): Promise<NatsConnection> {
  try {
    // Reconnect forever: a NATS node going away is an outage to ride out, not a reason to stop.
    return await connect({ servers: [...urls], name, maxReconnectAttempts: -1, reconnectTimeWait: 250, waitOnFirstConnect: false })
  } catch (cause) {
    throw new ForewarnError(ErrorCode.CONFIG, `cannot reach the NATS cluster at ${urls.join(',')}`, { cause, retriable: true })
  }
}

/** Creates the stream and buckets if they are missing (same configuration everywhere). */
export async function ensureClusterResources(nc: NatsConnection, s: ClusterSettings): Promise<{ jsm: JetStreamManager; leases: KV; checkpoints: KV }> {
  const jsm = await jetstreamManager(nc)
  const config = {
    name: s.names.stream,
    subjects: [`${s.names.subjectPrefix}.*`],
    num_replicas: s.replicas,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: ms(s.duplicateWindowMs),
    max_age: ms(s.maxAgeMs),
  }
  try {
    await jsm.streams.info(s.names.stream)
  } catch {
    await jsm.streams.add(config).catch(async (err: unknown) => {
      // Another process created it meanwhile.
      await jsm.streams.info(s.names.stream).catch(() => { throw err })
    })
  }
  const kvm = new Kvm(nc)
  const leases = await kvm.create(s.names.leases, { replicas: s.replicas, ttl: s.leaseTtlMs, history: 1 })
  const checkpoints = await kvm.create(s.names.checkpoints, { replicas: s.replicas, history: 1 })
  return { jsm, leases, checkpoints }
}

/**
 * Registry changes between edges (docs/scaling.md, "Across edges"). The registry is PostgreSQL,
 * so a revoked or re-keyed device cannot authenticate again anywhere; but a connection already
 * open on another edge, and that edge's device cache, only learn of the change from here.
 *
 * The API that took the call applies the change on its own broker first (as one process does),
 * then appends it to a small replicated stream. Every edge takes it on a core NATS subscription
 * (at once, no JetStream leader needed) and from the stream with an ordered consumer followed
 * from the moment it starts, so a change published while the edge's NATS connection was away
 * still arrives when it is back (within the stream's limits). Each change (message id) is
 * applied once; applying is idempotent anyway.
 */
import { DeliverPolicy, DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages } from '@nats-io/jetstream'
import { headers, type Msg, type Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { ClusterNode } from './index.ts'

export type RegistryChange =
  /** Its connection closes; the edge's cache marks it revoked; its gateway reconnects without it. */
  | { kind: 'device.revoked'; deviceId: string; gatewayId: string | null }
  /** Its connection closes (the old secret no longer authenticates). */
  | { kind: 'device.credentials_rotated'; deviceId: string }
  /** Revoked, re-keyed, or its device set changed: its connection closes. */
  | { kind: 'gateway.changed'; gatewayId: string }

export const REGISTRY_STREAM = 'FOREWARN_REGISTRY'
export const REGISTRY_SUBJECT = 'forewarn.registry'
const ORIGIN_HEADER = 'Forewarn-Origin'
/** Bounds: a change matters only to connections open when it happens; these keep the stream small. */
const MAX_AGE_MS = 3600_000
const MAX_MSGS = 100_000
const PUBLISH_TIMEOUT_MS = 5_000
const MSG_ID_HEADER = 'Nats-Msg-Id'
/** Message ids of applied changes kept to drop the second copy: far more than arrive in a minute. */
const MAX_REMEMBERED = 10_000
const ns = (msValue: number): number => msValue * 1_000_000

export interface RegistryBus {
  /** Appends a change for the other edges; rejects (retriable) when the stream did not store it. */
  publish(change: RegistryChange): Promise<void>
  close(): void
}

export interface RegistryBusOptions {
  node: ClusterNode
  /** An edge's side: applies a change another process published. Omitted: publish only. */
  apply?: (change: RegistryChange) => void
  log: Logger
}

const isChange = (v: unknown): v is RegistryChange => {
  const c = v as Partial<Record<string, unknown>> | null
  if (c === null || typeof c !== 'object') return false
  if (c.kind === 'device.revoked') return typeof c.deviceId === 'string' && (c.gatewayId === null || typeof c.gatewayId === 'string')
  if (c.kind === 'device.credentials_rotated') return typeof c.deviceId === 'string'
  return c.kind === 'gateway.changed' && typeof c.gatewayId === 'string'
}

export async function startRegistryBus(o: RegistryBusOptions): Promise<RegistryBus> {
  const { node, log } = o
  const jsm = await jetstreamManager(node.nc)
  const config = {
    name: REGISTRY_STREAM, subjects: [REGISTRY_SUBJECT], num_replicas: node.settings.replicas,
    retention: RetentionPolicy.Limits, storage: StorageType.File, discard: DiscardPolicy.Old,
    max_age: ns(MAX_AGE_MS), max_msgs: MAX_MSGS, duplicate_window: ns(2 * 60_000),
  }
  await jsm.streams.info(REGISTRY_STREAM).catch(async () => {
    await jsm.streams.add(config).catch(async (err: unknown) => {
      // Another process created it meanwhile.
      await jsm.streams.info(REGISTRY_STREAM).catch(() => { throw err })
    })
  })

  let stopped = false
  let messages: ConsumerMessages | null = null
  // A change arrives twice: on the core subscription at once, and from the stream (which also
  // brings what was published while this edge was away). Applied once, by its message id.
  const applied = new Set<string>()
  const handle = (m: Pick<Msg, 'headers' | 'json'>): void => {
    // The process that took the API call applied it already, before publishing.
    if (m.headers?.get(ORIGIN_HEADER) === node.id) return
    const id = m.headers?.get(MSG_ID_HEADER) ?? ''
    if (id === '' || applied.has(id)) return
    applied.add(id)
    if (applied.size > MAX_REMEMBERED) applied.delete(applied.values().next().value as string)
    let change: unknown
    try {
      change = m.json()
    } catch {
      change = null
    }
    if (!isChange(change)) {
      log.warn({ id }, 'ignoring a malformed registry change')
      return
    }
    try {
      o.apply?.(change)
    } catch (err) {
      log.error({ err, change }, 'applying a registry change failed')
    }
  }
  let last = 0
  /**
   * Changes after `after` (a stream sequence). The consumer is ephemeral and lives on one NATS
   * node: when this process reconnects (its node went away) or the consumer's heartbeats stop
   * (the consumer's node went away), it is dropped and followed again from the last change seen,
   * so a change made meanwhile is applied within seconds instead of at the library's own reset.
   */
  const follow = async (after: number): Promise<void> => {
    last = after
    const consumer = await node.js.consumers.get(REGISTRY_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 })
    const current = await consumer.consume({ max_messages: 64, expires: 4_000, idle_heartbeat: 1_000 })
    messages = current
    if (stopped) current.stop()
    void (async () => {
      for await (const s of current.status()) {
        if (s.type === 'heartbeats_missed') {
          log.warn({ missed: s.count }, 'registry consumer silent; following again')
          current.stop()
        }
      }
    })().catch(() => undefined)
    void (async () => {
      try {
        for await (const m of current) {
          handle(m)
          last = m.seq
        }
      } catch (err) {
        if (!stopped) log.warn({ err }, 'registry consumer ended; following again')
      }
      while (!stopped) {
        try {
          await new Promise((r) => setTimeout(r, 200))
          if (!stopped) await follow(last)
          return
        } catch (err) {
          log.warn({ err }, 'registry consumer cannot be created; retrying')
        }
      }
    })()
  }
  let sub: Subscription | null = null
  if (o.apply) {
    // Core NATS: delivered as soon as this process is connected, needing no JetStream leader.
    sub = node.nc.subscribe(REGISTRY_SUBJECT, { callback: (err, m) => { if (!err) handle(m) } })
    void (async () => {
      for await (const s of node.nc.status()) if (s.type === 'reconnect') (messages as ConsumerMessages | null)?.stop()
    })()
  }
  // Only changes from now on: a connection this edge opens later authenticates against PostgreSQL.
  if (o.apply) await follow((await jsm.streams.info(REGISTRY_STREAM)).state.last_seq)

  let n = 0
  return {
    async publish(change) {
      const h = headers()
      h.set(ORIGIN_HEADER, node.id)
      try {
        // The message id makes a retried publish of this same change count once.
        await node.js.publish(REGISTRY_SUBJECT, JSON.stringify(change), { headers: h, msgID: `${node.id}:${++n}`, timeout: PUBLISH_TIMEOUT_MS })
      } catch (cause) {
        throw new ForewarnError(ErrorCode.BROKER, `the registry changed (${change.kind}), but the other edges were not told: repeat the call`, { cause, retriable: true })
      }
    },
    close() {
      stopped = true
      sub?.unsubscribe()
      messages?.stop()
    },
  }
}

/**
 * The API's store in a cluster: after a registry call commits (and the local wrapper applied it
 * on this edge), the change goes to every other edge. Wraps the store the API is given.
 */
export function withRegistryBus(store: AsyncRecordsStore, bus: RegistryBus, log: Logger): AsyncRecordsStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'revokeDevice') {
        return async (id: string) => {
          const device = await target.revokeDevice(id)
          await bus.publish({ kind: 'device.revoked', deviceId: device.id, gatewayId: device.gatewayId })
          return device
        }
      }
      if (prop === 'rotateCredentials') {
        return async (id: string) => {
          const credentials = await target.rotateCredentials(id)
          await bus.publish({ kind: 'device.credentials_rotated', deviceId: id })
          return credentials
        }
      }
      if (prop === 'revokeGateway' || prop === 'rotateGatewayCredentials') {
        return async (id: string) => {
          const out = await (prop === 'revokeGateway' ? target.revokeGateway(id) : target.rotateGatewayCredentials(id))
          await bus.publish({ kind: 'gateway.changed', gatewayId: id })
          return out
        }
      }
      if (prop === 'createDevice') {
        return async (input: Parameters<AsyncRecordsStore['createDevice']>[0]) => {
          const created = await target.createDevice(input)
          // A gateway connected elsewhere reconnects to learn of the device behind it.
          // Not a security matter (its readings are refused there until then): the device stays created.
          if (created.device.gatewayId !== null) {
            await bus.publish({ kind: 'gateway.changed', gatewayId: created.device.gatewayId })
              .catch((err: unknown) => log.warn({ err, gatewayId: created.device.gatewayId }, 'other edges not told of a device added behind a gateway'))
          }
          return created
        }
      }
      const value: unknown = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

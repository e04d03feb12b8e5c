/**
 * Durable, shareable broker state on Redis: persistent sessions, their queued QoS 1 messages,
 * retained messages and wills survive a broker restart, and several brokers can share them
 * (mqemitter-redis carries publishes between them). aedes' offline queues are unbounded, so
 * queued messages get a time-to-live here.
 */
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import MQEmitterRedis from 'mqemitter-redis'
import { Readable } from 'node:stream'

/**
 * aedes-persistence-redis 11 returns retained messages as an async iterable where aedes 1.2 pipes
 * a stream: adapt, so subscribing to a filter with retained messages does not crash the broker.
 */
class RetainedAsStream extends AsyncRedisPersistence {
  override createRetainedStreamCombi(patterns: string[]): Readable {
    const it = super.createRetainedStreamCombi(patterns)
    return it instanceof Readable ? it : Readable.from(it as AsyncIterable<unknown>)
  }
  override createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern])
  }
}

export interface RedisStateOptions {
  url: string
  /** How long a message queued for an offline persistent session is kept (default 7 days). */
  offlineMessageTtlS?: number
  /** Queued messages delivered per reconnect (aedes-persistence-redis default 1000). */
  maxSessionDelivery?: number
}

export interface RedisState {
  persistence: unknown
  mq: unknown
}

export function createRedisState(o: RedisStateOptions): RedisState {
  const u = new URL(o.url)
  const conn = {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
  }
  const ttl = o.offlineMessageTtlS ?? 7 * 24 * 3600
  const persistence = new RetainedAsStream({
    ...conn,
    maxSessionDelivery: o.maxSessionDelivery ?? 1000,
    packetTTL: () => ttl,
  })
  // Unlimited concurrency, as for the embedded emitter (broker/index.ts): a queued backlog recursed.
  const mq = MQEmitterRedis({ ...conn, concurrency: 0 })
  return { persistence, mq }
}

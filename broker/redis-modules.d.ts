// aedes-persistence-redis ships no types; its promise-based class is what aedes 1.x requires.
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  interface AsyncRedisPersistenceOptions {
    host?: string
    port?: number
    db?: number
    password?: string
    /** Offline messages delivered per CONNECT (default 1000). */
    maxSessionDelivery?: number
    /** Seconds an offline (queued) message lives: aedes' offline queues are otherwise unbounded. */
    packetTTL?: (packet: unknown) => number
  }
  export default class AsyncRedisPersistence {
    constructor(opts?: AsyncRedisPersistenceOptions)
    setup(broker: unknown): Promise<void>
    destroy(): Promise<void>
    createRetainedStreamCombi(patterns: string[]): unknown
    createRetainedStream(pattern: string): unknown
  }
}

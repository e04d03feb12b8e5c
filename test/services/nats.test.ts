import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from './availability.ts'
import { groupAlive } from './process.ts'
import { startNatsCluster, type NatsClusterService } from './nats.ts'

describeService('nats', 'NATS JetStream three-node test cluster', () => {
  let nats: NatsClusterService
  beforeAll(async () => {
    nats = await startNatsCluster(3)
  })
  afterAll(async () => {
    await nats?.stop()
  })

  it('holds an R3 stream and a KV bucket, and keeps every acknowledged message with one node stopped', async () => {
    const nc = await connect({ servers: nats.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    try {
      const jsm = await jetstreamManager(nc)
      await jsm.streams.add({ name: 'T', subjects: ['t.*'], num_replicas: 3 })
      const js = jetstream(nc)
      for (let i = 0; i < 10; i++) await js.publish(`t.${i % 2}`, `m${i}`)
      // A TTL (as the member leases have), long enough to outlast the node outage on a loaded machine.
      const kv = await new Kvm(nc).create('probe', { replicas: 3, ttl: 60_000 })
      await kv.put('k', 'v')
      expect((await jsm.streams.info('T')).cluster?.replicas?.length).toBe(2)

      await nats.stopNode(2)
      // While the stream's leader is re-elected a publish meets no responder: retried with backoff.
      for (let i = 10; i < 20; i++) await js.publish(`t.${i % 2}`, `m${i}`, { retries: 20 })
      expect((await jsm.streams.info('T')).state.messages).toBe(20)
      expect((await kv.get('k'))?.string()).toBe('v')
      await nats.startNode(2)
      expect(nats.nodes[2]?.running()).toBe(true)
    } finally {
      await nc.close()
    }
  })

  it('leaves no process behind when stopped', async () => {
    const pids: number[] = []
    for (const n of nats.nodes) if (n.pid() !== null) pids.push(n.pid() as number)
    expect(pids.length).toBeGreaterThan(0)
    await nats.stop()
    for (const pid of pids) expect(groupAlive(pid)).toBe(false)
    for (const n of nats.nodes) expect(n.running()).toBe(false)
  })
})

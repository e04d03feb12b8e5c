/**
 * Issue 17, the edge slice: with --cluster a validated reading is appended to the replicated
 * stream before its PUBACK, bad input is refused as in one process and never reaches the stream,
 * and a NATS node stopped mid-run (the stream's leader) loses no acknowledged reading.
 */
import mqtt from 'mqtt'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { expect, it } from 'vitest'
import { partitionOf } from '../../domain/index.ts'
import { defaultNames, subjectOf } from '../../cluster/nats.ts'
import { rowsOf, type StreamRow } from '../../cluster/stream-writer.ts'
import { describeService } from '../services/availability.ts'
import { offlineWill, provision, type Provisioned } from '../e2e/helpers.ts'
import { useCluster } from './harness.ts'

const ADMIN_KEY = 'cluster-edge-admin-key-0123456789'
const READINGS = 120
const STOP_AT = 40

/** Every message in the stream, in stream order, read one by one from the stream's leader. */
async function streamRows(nc: NatsConnection): Promise<{ subject: string; row: StreamRow }[]> {
  const jsm = await jetstreamManager(nc)
  const { first_seq: first, last_seq: last } = (await jsm.streams.info(defaultNames.stream)).state
  const out: { subject: string; row: StreamRow }[] = []
  for (let seq = Math.max(1, first); seq <= last; seq++) {
    const m = await jsm.streams.getMessage(defaultNames.stream, { seq })
    // A message carries a partition's rows of one group: every row, in order.
    if (m) for (const row of rowsOf(m.json<StreamRow | StreamRow[]>())) out.push({ subject: m.subject, row })
  }
  return out
}

function device(url: string, d: Provisioned): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(url, {
    clientId: d.username, username: d.username, password: d.password, will: offlineWill(d.deviceId), reconnectPeriod: 200, clean: true,
  })
}

describeService(['nats', 'postgres'], 'cluster edge: the stream is the commit point', () => {
  const cluster = useCluster({ name: 'edge', adminKey: ADMIN_KEY, databases: ['edge'] })

  it('PUBACKs only readings stored in the R3 stream, in their partition, none lost with the leader node killed mid-run; bad input never reaches it', async () => {
    const run = await cluster.start(undefined)
    expect(run.cluster).not.toBeNull()
    const devices = await provision(run.apiUrl, ADMIN_KEY, ['refrigerator', 'refrigerator', 'refrigerator'], 'EDGE')
    const clients = await Promise.all(devices.map((d) => device(run.mqttUrl, d)))

    const nc = await connect({ servers: cluster.nats.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    try {
      const jsm = await jetstreamManager(nc)
      const info = await jsm.streams.info(defaultNames.stream)
      expect(info.config.num_replicas).toBe(3)
      const leader = info.cluster?.leader as string
      expect(leader).toMatch(/^n\d$/)

      // Bad input first: refused as in one process (counted, dead-lettered), nothing in the stream.
      const bad = clients[0]!
      const topic = `appliances/${devices[0]!.deviceId}/telemetry`
      await bad.publishAsync(topic, '{not json', { qos: 1 })
      await bad.publishAsync(topic, JSON.stringify({ v: 1, boot: 1, ts: Date.now(), seq: 0, metrics: { no_such_metric: 1 } }), { qos: 1 })
      expect(run.ingest.stats().rejected.malformed_json).toBe(1)
      expect(run.ingest.stats().rejected.unknown_metric).toBe(1)
      expect(run.ingest.rejects({ limit: 10 }).items.map((r) => r.reason).sort()).toEqual(['malformed_json', 'unknown_metric'])
      expect((await jsm.streams.info(defaultNames.stream)).state.messages).toBe(0)

      const acked = devices.map(() => new Set<number>())
      let stopped: Promise<void> | null = null
      await Promise.all(devices.map(async (d, i) => {
        const client = clients[i]!
        for (let seq = 0; seq < READINGS; seq++) {
          if (seq === STOP_AT && i === 0) stopped = cluster.nats.stopNode(Number(leader.slice(1)), 'SIGKILL')
          const payload = JSON.stringify({ v: 1, boot: 1, ts: Date.now(), seq, metrics: { cabinet_temp_c: 4 + (seq % 3) / 10 } })
          await client.publishAsync(`appliances/${d.deviceId}/telemetry`, payload, { qos: 1 })
          acked[i]!.add(seq)
        }
      }))
      await stopped
      expect(cluster.nats.nodes.filter((n) => n.running())).toHaveLength(2)
      // The stream carried on under a new leader, on the two nodes left.
      expect((await jsm.streams.info(defaultNames.stream)).cluster?.leader).not.toBe(leader)

      const rows = await streamRows(nc)
      for (const [i, d] of devices.entries()) {
        const mine = rows.filter((r) => r.row.d === d.deviceId)
        // Every acknowledged reading is there exactly once, in the device's partition subject.
        expect(mine.map((r) => r.row.s).sort((a, b) => a - b)).toEqual([...acked[i]!].sort((a, b) => a - b))
        expect(new Set(mine.map((r) => r.subject))).toEqual(new Set([subjectOf(defaultNames, partitionOf(d.deviceId, 64))]))
        // In order within the partition: the device sent them in order.
        expect(mine.map((r) => r.row.s)).toEqual([...acked[i]!])
      }
      expect(rows).toHaveLength(devices.length * READINGS)
      expect(run.ingest.stats().rejectedTotal).toBe(2)
    } finally {
      for (const c of clients) await c.endAsync(true)
      await nc.close()
    }
  }, 120_000)
})

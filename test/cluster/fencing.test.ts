/**
 * Issue 17, fencing (cluster/worker.ts): a worker stalled past its lease TTL (SIGSTOP) while
 * another worker takes its partitions folds nothing when it wakes, though its consumers had
 * received the readings sent during the stall. It drops the partitions the other worker wrote
 * checkpoints for (a partition nobody wrote to it may claim again as it was), then takes
 * back its rendezvous share from the other worker's checkpoints: every reading is folded once
 * per device (the count and stream sequence carried in each device's checkpoint, the health
 * record's repeated-reading count), and the work done by both workers is exactly the readings.
 */
import mqtt from 'mqtt'
import { connect } from '@nats-io/transport-node'
import { expect, it } from 'vitest'
import { ownerOf, partitionOf } from '../../domain/index.ts'
import { defaultNames } from '../../cluster/nats.ts'
import { describeService } from '../services/availability.ts'
import { offlineWill, provision, waitFor } from '../e2e/helpers.ts'
import { claims, deviceCheckpoints, metric, useCluster, type Child } from './harness.ts'

const ADMIN_KEY = 'cluster-fencing-admin-key-01234567'
const DEVICES = 4
/** Readings per device in each phase: before the stall, during it, after it. */
const PHASE = 200
const BATCH = 50
const TTL_MS = 3_000
const FOLDED = 'forewarn_cluster_readings_folded'
const LOST = 'forewarn_cluster_claims_lost'

describeService(['nats', 'postgres'], 'cluster fencing: a worker stalled past its lease folds nothing it no longer owns', () => {
  const cluster = useCluster({ name: 'fencing', adminKey: ADMIN_KEY, databases: ['fencing'] })

  it('a SIGSTOPped worker wakes, folds none of its buffered readings, drops its partitions and resumes its share from the checkpoints', async () => {
    const edge = await cluster.start('edge,api')
    const devices = await provision(edge.apiUrl, ADMIN_KEY, Array.from({ length: DEVICES }, () => 'refrigerator' as const), 'FENCE')
    const ids = devices.map((d) => d.deviceId)
    const devicePartitions = new Set(ids.map((id) => partitionOf(id, defaultNames.partitions))).size
    const env = { DATABASE_URL: cluster.databaseUrl(), FOREWARN_ADMIN_KEY: ADMIN_KEY, FOREWARN_CLUSTER_LEASE_TTL_MS: String(TTL_MS), FOREWARN_CHECKPOINT_MS: '300' }
    const nc = await connect({ servers: cluster.nats.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    const clients = await Promise.all(devices.map((d) => mqtt.connectAsync(edge.mqttUrl, {
      clientId: d.username, username: d.username, password: d.password, will: offlineWill(d.deviceId), reconnectPeriod: 200,
    })))
    const t0 = Date.now() - 5 * 86_400_000
    let sent = 0
    /** PHASE more readings per device, acknowledged (in the stream) when it resolves. */
    const send = async (): Promise<void> => {
      await Promise.all(devices.map(async (d, i) => {
        for (let s = sent; s < sent + PHASE; s += BATCH) {
          const readings = Array.from({ length: BATCH }, (_, k) => ({ ts: t0 + (s + k) * 60_000, seq: s + k, metrics: { cabinet_temp_c: 4, compressor_on: 1 } }))
          await clients[i]!.publishAsync(`appliances/${d.deviceId}/telemetry`, JSON.stringify({ v: 1, boot: 1, readings }), { qos: 1 })
        }
      }))
      sent += PHASE
    }
    const checkpointed = (n: number) => async () => {
      const cps = await deviceCheckpoints(nc, ids)
      return ids.every((id) => cps.get(id)?.n === n) ? true : undefined
    }
    const soleOwner = async (): Promise<string | undefined> => {
      const c = await claims(nc)
      const owners = new Set(c.values())
      return c.size === defaultNames.partitions && owners.size === 1 ? [...owners][0] : undefined
    }
    let a: Child | undefined
    try {
      a = await cluster.spawn('worker,api', env)
      const aId = await waitFor('worker A to hold every partition', soleOwner, 30_000, 200)
      await send()
      await waitFor('A to checkpoint the first readings', checkpointed(PHASE), 30_000, 100)
      await waitFor('A to have folded them all', async () => (await metric(a!.apiUrl, ADMIN_KEY, FOLDED) === DEVICES * PHASE ? true : undefined), 10_000, 100)

      // A stalls. Readings sent now reach its consumers (they are still subscribed) but not its
      // detectors; its claims lapse and B takes every partition from A's checkpoints.
      a.proc.kill('SIGSTOP')
      let b: Child
      let bId: string
      try {
        await send()
        b = await cluster.spawn('worker,api', env)
        bId = await waitFor('worker B to hold every partition', async () => {
          const owner = await soleOwner()
          return owner !== undefined && owner !== aId ? owner : undefined
        }, 30_000, 200)
        await waitFor('B to fold and checkpoint the readings sent during the stall', checkpointed(2 * PHASE), 30_000, 100)
      } finally {
        a.proc.kill('SIGCONT')
      }

      // A wakes with stale claims: it drops all of them without folding what it had received.
      // Both are live now: the partitions split by rendezvous, A's share handed over by B at a
      // final checkpoint, with nothing left to fold.
      const expected = Array.from({ length: defaultNames.partitions }, (_, p) => ownerOf(`p${p}`, [aId, bId].sort()))
      await waitFor('the partitions with their rendezvous owners', async () => {
        const c = await claims(nc)
        return expected.every((o, p) => c.get(p) === o) ? true : undefined
      }, 30_000, 200)
      expect(await metric(a.apiUrl, ADMIN_KEY, FOLDED)).toBe(DEVICES * PHASE)
      // It dropped at least every partition B checkpointed (its devices'); a partition B held but
      // never wrote to may be claimed again as it was, once B gave its claim up.
      const lostByA = await metric(a.apiUrl, ADMIN_KEY, LOST)
      expect(lostByA).toBeGreaterThanOrEqual(devicePartitions)
      expect(lostByA).toBeLessThanOrEqual(defaultNames.partitions)

      await send()
      await waitFor('every reading checkpointed', checkpointed(3 * PHASE), 30_000, 100)
      const cps = await deviceCheckpoints(nc, ids)
      expect(Object.fromEntries(ids.map((id) => [id, cps.get(id)?.n]))).toEqual(Object.fromEntries(ids.map((id) => [id, 3 * PHASE])))
      for (const id of ids) {
        const rec = await waitFor(`the health record of ${id} at its last reading`, async () => {
          const r = await edge.store.getHealthRecord(id)
          return r?.health?.lastEventTime === t0 + (3 * PHASE - 1) * 60_000 ? r : undefined
        }, 30_000, 200)
        expect(rec?.health?.input?.dropped ?? 0).toBe(0)
      }
      // Work done: B lost no claim, so nothing was folded again; A folded nothing while fenced.
      expect(await metric(b!.apiUrl, ADMIN_KEY, LOST)).toBe(0)
      expect(await metric(a.apiUrl, ADMIN_KEY, LOST)).toBe(lostByA)
      const work = await metric(a.apiUrl, ADMIN_KEY, FOLDED) + await metric(b!.apiUrl, ADMIN_KEY, FOLDED)
      expect(work).toBe(DEVICES * 3 * PHASE)
    } finally {
      for (const c of clients) await c.endAsync(true)
      await nc.close()
    }
  }, 180_000)
})

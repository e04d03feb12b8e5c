/**
 * Issue 17, the worker slice: two worker processes split the partitions; one is SIGKILLed mid-run.
 * Its partitions move to the survivor, which restores each device's detector snapshot and resumes
 * from the checkpointed stream sequence: every reading is folded into its device's detector
 * exactly once (the per-device count carried in the checkpoint equals the readings sent, and the
 * detector saw no repeated reading), and devices keep their baselines (no new warm-up: the
 * readings after the kill span far less than the 72 h warm-up).
 */
import type { ChildProcess } from 'node:child_process'
import mqtt from 'mqtt'
import { connect } from '@nats-io/transport-node'
import { expect, it } from 'vitest'
import { partitionOf } from '../../domain/index.ts'
import { createSimAppliance } from '../../simulators/appliance.ts'
import { defaultNames } from '../../cluster/nats.ts'
import { describeService } from '../services/availability.ts'
import { apiCall, offlineWill, provision, waitFor } from '../e2e/helpers.ts'
import { claims, deviceCheckpoints, useCluster } from './harness.ts'

interface ClusterBody {
  clustered: boolean
  self: string
  members: { id: string; roles: string[]; partitions: number[] }[]
  partitions: { partition: number; owner: string | null; lag: number | null }[]
}

const ADMIN_KEY = 'cluster-worker-admin-key-0123456789'
const DEVICES = 4
/** Simulated refrigerators report once a minute; about 4,200 readings (70 h) warm a detector up. */
const BEFORE_KILL = 4_400
/** 300 readings (5 h of event time) after the kill: a new warm-up would not be over by the end. */
const READINGS = 4_700
/** Readings per MQTT message (the telemetry batch form); the stream holds one message per reading. */
const BATCH = 100

describeService(['nats', 'postgres'], 'cluster worker: a killed worker\'s partitions move without loss, repeats or a new warm-up', () => {
  const cluster = useCluster({ name: 'worker', adminKey: ADMIN_KEY, databases: ['worker'] })

  it('moves a SIGKILLed worker\'s partitions; each reading is folded exactly once per device, baselines kept', async () => {
    // The edge (and API) in this process; two workers as processes of their own, each with the
    // api role too, so that its /metrics (partition lag) can be read.
    const edge = await cluster.start('edge,api')
    expect(edge.worker).toBeNull()
    const devices = await provision(edge.apiUrl, ADMIN_KEY, Array.from({ length: DEVICES }, () => 'refrigerator' as const), 'WORK')
    const env = { DATABASE_URL: cluster.databaseUrl(), FOREWARN_ADMIN_KEY: ADMIN_KEY, FOREWARN_CLUSTER_LEASE_TTL_MS: '1500', FOREWARN_CHECKPOINT_MS: '300' }
    const workers: ChildProcess[] = []
    const workerApis: string[] = []
    for (let i = 0; i < 2; i++) {
      const w = await cluster.spawn('worker,api', env)
      workers.push(w.proc)
      workerApis.push(w.apiUrl)
    }
    const nc = await connect({ servers: cluster.nats.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    const clients = await Promise.all(devices.map((d) => mqtt.connectAsync(edge.mqttUrl, {
      clientId: d.username, username: d.username, password: d.password, will: offlineWill(d.deviceId), reconnectPeriod: 200,
    })))
    try {
      // Both workers hold partitions: 64 claims between two owners.
      const split = await waitFor('partitions split between both workers', async () => {
        const c = await claims(nc)
        return c.size === defaultNames.partitions && new Set(c.values()).size === 2 ? c : undefined
      }, 30_000, 200)
      const ownerPid = (owner: string): number => Number(owner.split('-').at(-2))
      expect(new Set([...split.values()].map(ownerPid))).toEqual(new Set(workers.map((w) => w.pid)))
      // The victim: the owner of the first device's partition.
      const victimId = split.get(partitionOf(devices[0]!.deviceId, defaultNames.partitions)) as string
      const victim = workers.find((w) => w.pid === ownerPid(victimId)) as ChildProcess
      const survivorId = [...new Set(split.values())].find((id) => id !== victimId) as string

      // GET /cluster on the edge: three live processes with their roles, every partition owned.
      const view = await waitFor('GET /cluster to show both workers\' partitions', async () => {
        const { body } = await apiCall<ClusterBody>(edge.apiUrl, ADMIN_KEY, '/cluster')
        return body.partitions.every((p) => p.owner !== null) && body.members.length === 3 ? body : undefined
      }, 15_000, 200)
      expect(view.clustered).toBe(true)
      expect(view.members.map((m) => m.roles.join(',')).sort()).toEqual(['edge,api', 'worker,api', 'worker,api'])
      expect(view.members.flatMap((m) => m.partitions).sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, p) => p))
      expect(Object.fromEntries(view.partitions.map((p) => [p.partition, p.owner]))).toEqual(Object.fromEntries(split))

      const start = Date.now() - 10 * 86_400_000
      const lastTs = new Map<string, number>()
      let killed = false
      await Promise.all(devices.map(async (d, i) => {
        const sim = createSimAppliance({ deviceId: d.deviceId, type: 'refrigerator', seed: 7 + i, startMs: start, disturbances: false })
        for (let seq = 0; seq < READINGS; seq += BATCH) {
          if (i === 0 && seq === BEFORE_KILL) {
            // Let the victim checkpoint the warmed-up device, then kill it mid-run.
            await waitFor('the victim to checkpoint the warmed-up device', async () => ((await deviceCheckpoints(nc, [d.deviceId])).get(d.deviceId)?.n ?? 0) >= BEFORE_KILL - BATCH ? true : undefined, 60_000, 100)
            victim.kill('SIGKILL')
            killed = true
          }
          const readings = Array.from({ length: BATCH }, (_, k) => {
            const r = sim.next()
            return { ts: r.ts, seq: seq + k, metrics: r.metrics }
          })
          lastTs.set(d.deviceId, (readings.at(-1) as { ts: number }).ts)
          await clients[i]!.publishAsync(`appliances/${d.deviceId}/telemetry`, JSON.stringify({ v: 1, boot: 1, readings }), { qos: 1 })
        }
      }))
      expect(killed).toBe(true)

      // The survivor takes every partition once the victim's claims expire.
      await waitFor('the survivor to own every partition', async () => {
        const c = await claims(nc)
        return c.size === defaultNames.partitions && [...c.values()].every((o) => o === survivorId) ? true : undefined
      }, 30_000, 200)
      // Each process judges liveness by its own clock, and a worker reports its partitions with
      // its next lease put: GET /cluster shows the new state within a TTL.
      const after = await waitFor('GET /cluster without the victim, every partition with the survivor', async () => {
        const { body } = await apiCall<ClusterBody>(edge.apiUrl, ADMIN_KEY, '/cluster')
        return body.members.length === 2 && body.partitions.every((p) => p.owner === survivorId) ? body : undefined
      }, 10_000, 100)
      expect(after.members.map((m) => m.id).sort()).toEqual([after.self, survivorId].sort())
      expect(after.partitions.every((p) => p.owner === survivorId && Number.isInteger(p.lag))).toBe(true)
      // Every device's checkpoint counts exactly READINGS readings folded into its detector.
      const ids = devices.map((d) => d.deviceId)
      await waitFor('every reading checkpointed', async () => {
        const cps = await deviceCheckpoints(nc, ids)
        return ids.every((id) => (cps.get(id)?.n ?? 0) >= READINGS) ? true : undefined
      }, 60_000, 200)
      await new Promise((r) => setTimeout(r, 1_000))
      const cps = await deviceCheckpoints(nc, ids)
      const metrics = await (await fetch(`${workerApis[workers.indexOf(victim) === 0 ? 1 : 0]}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text()
      expect(metrics).toMatch(/^forewarn_cluster_partitions_owned 64$/m)
      expect(metrics).toMatch(/^forewarn_cluster_partition_lag\{partition="0"\} 0$/m)
      // The edge (api role, no worker) exports every partition's lag as its owner reports it.
      await waitFor('the edge exports the survivor\'s partition lag, no partition unowned', async () => {
        const text = await (await fetch(`${edge.apiUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text()
        const owned = text.split('\n').filter((l) => l.startsWith(`forewarn_cluster_lag{partition=`) && l.includes(`owner="${survivorId}"`))
        return owned.length === 64 && /^forewarn_cluster_partitions_unowned 0$/m.test(text) ? true : undefined
      }, 10_000, 200)
      expect(Object.fromEntries(ids.map((id) => [id, cps.get(id)?.n]))).toEqual(Object.fromEntries(ids.map((id) => [id, READINGS])))

      // The health records (written by whichever worker held the device) show the last reading,
      // a detector past warm-up, and no reading seen twice.
      for (const id of ids) {
        const rec = await waitFor(`the health record of ${id} at its last reading`, async () => {
          const r = await edge.store.getHealthRecord(id)
          return r?.health?.lastEventTime === lastTs.get(id) ? r : undefined
        }, 30_000, 200)
        expect(rec?.health?.warmingUp).toBe(false)
        expect(rec?.health?.input?.dropped ?? 0).toBe(0)
      }
    } finally {
      for (const c of clients) await c.endAsync(true)
      await nc.close()
    }
  }, 180_000)
})

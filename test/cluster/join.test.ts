/**
 * Issue 17, a worker joins: a second worker process starts while readings flow. The first gives
 * the partitions the newcomer wins away after a final checkpoint, the newcomer resumes exactly
 * there: every reading is folded once per device (nothing replayed, nothing skipped), and each
 * device's one firmware warning is stored once.
 */
import mqtt from 'mqtt'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { expect, it } from 'vitest'
import type { Running } from '../../cli/start.ts'
import { ownerOf } from '../../domain/index.ts'
import { defaultNames } from '../../cluster/nats.ts'
import type { DeviceCheckpoint } from '../../cluster/worker.ts'
import { describeService } from '../services/availability.ts'
import { apiCall, offlineWill, provision, waitFor } from '../e2e/helpers.ts'
import { useCluster } from './harness.ts'

const ADMIN_KEY = 'cluster-join-admin-key-0123456789a'
const DEVICES = 8
const BATCH = 50
const BATCHES = 12

describeService(['nats', 'postgres'], 'cluster: a worker joining takes its partitions without a repeat or a gap', () => {
  const cluster = useCluster({ name: 'join', adminKey: ADMIN_KEY, databases: ['joining'] })
  const start = (roles: string): Promise<Running> => cluster.start(roles, { env: { FOREWARN_CLUSTER_LEASE_TTL_MS: '3000', FOREWARN_CHECKPOINT_MS: '300' } })

  it('rebalances to the rendezvous owners; every reading folded once, one warning per device', async () => {
    const a = await start('edge,worker,api')
    await waitFor('the first worker to own every partition', async () => (a.worker!.owned().length === defaultNames.partitions ? true : undefined), 15_000, 100)
    const devices = await provision(a.apiUrl, ADMIN_KEY, Array.from({ length: DEVICES }, () => 'refrigerator' as const), 'JOIN')
    const clients = await Promise.all(devices.map((d) => mqtt.connectAsync(a.mqttUrl, { clientId: d.username, username: d.username, password: d.password, will: offlineWill(d.deviceId), reconnectPeriod: 200 })))
    const t0 = Date.now() - 2 * 86_400_000
    let b: Running | null = null
    // Halfway, the second worker joins; every device waits until it holds partitions, so both
    // workers fold the second half.
    let joined: Promise<void> | null = null
    const join = (): Promise<void> => (joined ??= (async () => {
      b = await start('worker')
      const w = (b as Running).worker!
      await waitFor('the second worker to hold partitions', async () => (w.owned().length > 0 ? true : undefined), 20_000, 50)
    })())
    try {
      await Promise.all(devices.map(async (d, i) => {
        const client = clients[i]!
        for (let k = 0; k < BATCHES; k++) {
          if (k === BATCHES / 2) await join()
          if (k === 2) await client.publishAsync(`appliances/${d.deviceId}/events`, JSON.stringify({ v: 1, ts: t0 + k * BATCH * 60_000, code: 'E7' }), { qos: 1 })
          const readings = Array.from({ length: BATCH }, (_, j) => ({ ts: t0 + (k * BATCH + j) * 60_000, seq: k * BATCH + j, metrics: { cabinet_temp_c: 4, compressor_on: 1 } }))
          await client.publishAsync(`appliances/${d.deviceId}/telemetry`, JSON.stringify({ v: 1, boot: 1, readings }), { qos: 1 })
        }
      }))
      const second = b as Running | null
      expect(second).not.toBeNull()
      const ids = [a.worker!.id, second!.worker!.id].sort()
      const expected = Array.from({ length: defaultNames.partitions }, (_, p) => ownerOf(`p${p}`, ids))
      await waitFor('partitions with their rendezvous owners', async () => {
        const owners = Array.from({ length: defaultNames.partitions }, (_, p) => (a.worker!.owned().includes(p) ? a.worker!.id : second!.worker!.owned().includes(p) ? second!.worker!.id : null))
        return owners.every((o, p) => o === expected[p]) ? true : undefined
      }, 20_000, 100).catch((err: unknown) => {
        const wrong = expected.map((o, p) => [p, o, a.worker!.owned().includes(p), second!.worker!.owned().includes(p)]).filter(([, o, inA, inB]) => (o === a.worker!.id) !== inA || (o === second!.worker!.id) !== inB)
        console.log('WRONG', JSON.stringify(a.worker!.stats()), JSON.stringify(second!.worker!.stats()), a.worker!.id, second!.worker!.id, JSON.stringify(wrong), a.worker!.members(), second!.worker!.members())
        throw err
      })
      expect(second!.worker!.owned().length).toBeGreaterThan(10)
      expect(a.worker!.stats().releases).toBe(second!.worker!.owned().length)

      const nc = await connect({ servers: cluster.nats.urls.split(',') })
      try {
        const kv = await new Kvm(nc).open(defaultNames.checkpoints)
        const folded = async (): Promise<Record<string, number>> => {
          const out: Record<string, number> = {}
          for (const d of devices) out[d.deviceId] = (await kv.get(`snap.${d.deviceId}`))?.json<DeviceCheckpoint>().n ?? 0
          return out
        }
        await waitFor('every reading checkpointed', async () => (Object.values(await folded()).every((n) => n >= BATCH * BATCHES) ? true : undefined), 30_000, 200)
        await new Promise((r) => setTimeout(r, 800))
        expect(await folded()).toEqual(Object.fromEntries(devices.map((d) => [d.deviceId, BATCH * BATCHES])))
      } finally {
        await nc.close()
      }
      // A hand-over resumes at the final checkpoint: nothing replayed, so nothing skipped.
      expect(a.worker!.stats().skipped + second!.worker!.stats().skipped).toBe(0)
      // Work done: each reading once, unless a claim lapsed (a process starved past the lease TTL
      // on a loaded machine): then the lapsed owner's folds after its last checkpoint are thrown
      // away and redone by the new owner, which the checkpointed counts above prove exact anyway.
      const lapsed = a.worker!.stats().lostClaims + second!.worker!.stats().lostClaims
      const work = a.worker!.stats().readings + second!.worker!.stats().readings
      if (lapsed === 0) expect(work).toBe(DEVICES * BATCH * BATCHES)
      else {
        console.log(`join: ${lapsed} claim(s) lapsed under load; ${work - DEVICES * BATCH * BATCHES} readings folded again by their new owner`)
        expect(work).toBeGreaterThan(DEVICES * BATCH * BATCHES)
      }
      const warnings = await apiCall<{ items: { deviceId: string }[] }>(a.apiUrl, ADMIN_KEY, '/warnings?limit=100')
      expect(warnings.body.items.map((w) => w.deviceId).sort()).toEqual(devices.map((d) => d.deviceId).sort())
    } finally {
      for (const c of clients) await c.endAsync(true)
    }
  }, 120_000)
})

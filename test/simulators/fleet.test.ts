import { afterEach, describe, expect, it } from 'vitest'
import { applianceTypes, type ApplianceType, type Reading } from '../../domain/index.ts'
import { createEmbeddedBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { createIngest, type Ingest } from '../../ingest/index.ts'
import { createSimAppliance } from '../../simulators/appliance.ts'
import { runFleet } from '../../simulators/fleet.ts'

let broker: EmbeddedBroker | null = null
let ingest: Ingest | null = null
afterEach(async () => {
  await broker?.close()
  await ingest?.close()
  broker = null
  ingest = null
})

async function pipeline(n: number) {
  const members = Array.from({ length: n }, (_, i) => ({
    deviceId: `dev${i}`, username: `dev${i}`, password: `secret-${i}`, type: applianceTypes[i % applianceTypes.length] as ApplianceType, seed: i + 1,
  }))
  const byId = new Map(members.map((m) => [m.deviceId, m]))
  const readings: Reading[] = []
  const states: string[] = []
  ingest = createIngest({
    dataDir: null,
    lookupDevice: (id) => {
      const m = byId.get(id)
      return m ? { type: m.type, revoked: false } : undefined
    },
    onReadings: (rs) => {
      readings.push(...rs)
    },
    onStatus: (id, state) => states.push(`${id}:${state}`),
    onDeviceEvent: () => {},
  })
  await ingest.start()
  const ing = ingest
  broker = await createEmbeddedBroker({
    port: 0,
    authenticate: async (u, p) => {
      if (u === 'hub0' && p.toString() === 'pw-hub0') return { kind: 'gateway', gatewayId: 'hub0', deviceIds: new Set(['dev0', 'dev1', 'dev2']) }
      return byId.get(u)?.password === p.toString() ? { kind: 'device', deviceId: u } : null
    },
    onPublish: async (_p, id, kind, payload) => {
      await ing.accept(id, kind, payload)
    },
  })
  return { members, readings, states, url: `mqtt://127.0.0.1:${broker.port}` }
}

describe('fleet runner', () => {
  it('publishes exactly N readings per device, all acknowledged, gap-free per device', async () => {
    const p = await pipeline(4)
    const now = Date.now()
    const fleet = runFleet({ brokerUrl: p.url, members: p.members, startMs: now - 86_400_000, readingsPerDevice: 25, intervalMs: 2, simMsPerTick: 60_000 })
    const s = await fleet.done
    expect(s).toMatchObject({ published: 100, acknowledged: 100, failed: 0, devices: 4 })
    expect(s.lastSeq).toEqual({ dev0: 24, dev1: 24, dev2: 24, dev3: 24 })
    expect(ingest?.stats()).toMatchObject({ accepted: 100, duplicates: 0, rejectedTotal: 0 })
    for (const m of p.members) {
      const mine = p.readings.filter((r) => r.deviceId === m.deviceId)
      expect(mine.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i))
      // Distinct, increasing event times, never in the future.
      for (let i = 1; i < mine.length; i++) expect((mine[i] as Reading).ts).toBeGreaterThan((mine[i - 1] as Reading).ts)
      expect(Math.max(...mine.map((r) => r.ts))).toBeLessThanOrEqual(Date.now())
    }
    // Online at connect; a clean DISCONNECT at the end is reported offline.
    await new Promise((r) => setTimeout(r, 50))
    for (const m of p.members) {
      expect(p.states.filter((x) => x.startsWith(`${m.deviceId}:`)).at(-1)).toBe(`${m.deviceId}:offline`)
    }
  })

  it('skips readings a real device would not have sent (power cut, dropout): N sent, sequence contiguous', async () => {
    const p = await pipeline(1)
    // Refrigerator seed 72 loses 138 readings in its first day, the first at index 113.
    const members = [{ ...(p.members[0] as (typeof p.members)[number]), type: 'refrigerator' as const, seed: 72 }]
    const startMs = Date.now() - 2 * 86_400_000
    const fleet = runFleet({ brokerUrl: p.url, members, startMs, readingsPerDevice: 300, batchSize: 50, intervalMs: 2, simMsPerTick: 60_000 })
    const s = await fleet.done
    expect(s).toMatchObject({ published: 300, acknowledged: 300, failed: 0 })
    expect(s.lastSeq).toEqual({ dev0: 299 })
    const expected: number[] = []
    const sim = createSimAppliance({ deviceId: 'dev0', type: 'refrigerator', seed: 72, startMs })
    let lost = 0
    while (expected.length < 300) {
      const r = sim.next()
      if (r.lost) lost++
      else expected.push(r.ts)
    }
    expect(lost).toBe(138)
    expect(p.readings.map((r) => r.ts)).toEqual(expected)
    expect(p.readings.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i))
  })

  it('uses the batch payload form and counts readings, not messages', async () => {
    const p = await pipeline(2)
    const fleet = runFleet({ brokerUrl: p.url, members: p.members, startMs: Date.now() - 86_400_000, readingsPerDevice: 23, batchSize: 10, intervalMs: 2, simMsPerTick: 60_000 })
    const s = await fleet.done
    expect(s).toMatchObject({ published: 46, acknowledged: 46, failed: 0 })
    expect(fleet.stats().messages).toBe(6)
    expect(s.lastSeq).toEqual({ dev0: 22, dev1: 22 })
  })

  it('does not publish readings whose event time is not yet due, and stop() ends an unbounded run', async () => {
    const p = await pipeline(1)
    const fleet = runFleet({ brokerUrl: p.url, members: p.members, startMs: Date.now() - 3 * 60_000, intervalMs: 2, simMsPerTick: 60_000 })
    await new Promise((r) => setTimeout(r, 300))
    const s = await fleet.stop()
    // startMs 3 minutes ago at one reading a minute: readings at -3, -2, -1 and 0 minutes.
    expect(s.published).toBe(4)
    expect(s.acknowledged).toBe(4)
    expect(s.lastSeq).toEqual({ dev0: 3 })
  })

  it('counts nothing as acknowledged when credentials are wrong', async () => {
    const p = await pipeline(1)
    const bad = [{ ...(p.members[0] as (typeof p.members)[number]), password: 'nope' }]
    const fleet = runFleet({ brokerUrl: p.url, members: bad, startMs: Date.now() - 60_000, readingsPerDevice: 2, intervalMs: 2 })
    await new Promise((r) => setTimeout(r, 200))
    const s = await fleet.stop()
    expect(s).toMatchObject({ published: 0, acknowledged: 0 })
    expect(fleet.stats().connected).toBe(0)
  })

  it('gateway mode: devices behind a gateway publish over its one connection, each with its own sequence', async () => {
    const p = await pipeline(4)
    let peakConnections = 0
    const fleet = runFleet({
      brokerUrl: p.url, members: p.members, startMs: Date.now() - 86_400_000, readingsPerDevice: 10, intervalMs: 2, simMsPerTick: 60_000,
      gateways: [{ gatewayId: 'hub0', username: 'hub0', password: 'pw-hub0', deviceIds: ['dev0', 'dev1', 'dev2'] }],
      onProgress: (st) => (peakConnections = Math.max(peakConnections, st.connected)), progressEveryMs: 5,
    })
    const s = await fleet.done
    expect(s).toMatchObject({ published: 40, acknowledged: 40, failed: 0 })
    expect(s.lastSeq).toEqual({ dev0: 9, dev1: 9, dev2: 9, dev3: 9 })
    expect(peakConnections).toBe(2)
    for (const id of ['dev0', 'dev1', 'dev2', 'dev3']) {
      expect(p.readings.filter((r) => r.deviceId === id).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    }
  })
})

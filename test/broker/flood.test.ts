/**
 * A flood from one device and an authentication storm do not starve well-behaved devices.
 * Measured as a ratio in one run (their delivery with and without the attack), not as a timing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import type { MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { createIngest, type Ingest } from '../../ingest/index.ts'
import { deviceOpts, type Harness, principals, startHarness } from './harness.ts'

let h: Harness | null = null
let ingest: Ingest | null = null
let dir = ''
afterEach(async () => {
  await h?.close()
  await ingest?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const GOOD = ['good0', 'good1', 'good2', 'good3']
for (const id of [...GOOD, 'flood']) principals[id] = { password: `pw-${id}`, principal: { kind: 'device', deviceId: id } }

const FLOOD_PAYLOAD = Buffer.from(JSON.stringify({ v: 1, boot: 1, ts: Date.now(), seq: 0, metrics: { cabinet_temp_c: 4 } }))

function varint(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}
const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)])
/** MQTT 3.1.1 CONNECT with username, password, clean session, keep-alive 60 (§3.1). */
function connectPacket(clientId: string, username: string, password: string): Buffer {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 60]), str(clientId), str(username), str(password)])
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body])
}
/** MQTT 3.1.1 PUBLISH at QoS 1 (§3.3). */
function publishPacket(topic: string, payload: Buffer, messageId: number): Buffer {
  const body = Buffer.concat([str(topic), Buffer.from([messageId >> 8, messageId & 0xff]), payload])
  return Buffer.concat([Buffer.from([0x32]), varint(body.length), body])
}

async function measure(clients: MqttClient[], ms: number, seq: { n: number }): Promise<number> {
  const end = Date.now() + ms
  let acked = 0
  await Promise.all(clients.map(async (c) => {
    while (Date.now() < end) {
      const id = c.options.clientId as string
      const payload = JSON.stringify({ v: 1, boot: 1, ts: Date.now() - 10, seq: seq.n++, metrics: { cabinet_temp_c: 4 } })
      await c.publishAsync(`appliances/${id}/telemetry`, payload, { qos: 1 })
      acked++
    }
  }))
  return acked
}

describe('flood resistance', () => {
  it('keeps well-behaved devices above half their normal delivery rate during a flood and an auth storm', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-flood-'))
    ingest = createIngest({
      dataDir: dir, lookupDevice: () => ({ type: 'refrigerator', revoked: false }),
      onReadings: () => {}, onStatus: () => {}, onDeviceEvent: () => {},
    })
    await ingest.start()
    const ing = ingest
    h = await startHarness({ maxInflightPerClient: 64, connectionsPerAddressPerSec: 50, rateLimitExempt: [] })
    h.commit = async (p) => {
      await ing.accept(p.deviceId, p.kind, Buffer.from(p.payload))
    }
    const good: MqttClient[] = []
    for (const id of GOOD) good.push(await h.connect(deviceOpts(id)))
    const seq = { n: 0 }
    const baseline = await measure(good, 1000, seq)

    let attacking = true
    // Attackers write pre-encoded MQTT bytes on raw sockets, so their own cost in this process stays
    // small and the measurement is of the broker's fairness, not of the test's event loop.
    const port = h.broker.port
    let floodConnections = 0
    const flood = (): void => {
      if (!attacking) return
      floodConnections++
      const sock = connect(port, '127.0.0.1')
      sock.on('error', () => {})
      sock.write(connectPacket('flood', 'flood', 'pw-flood'))
      let id = 1
      const pump = (): void => {
        if (!attacking || sock.destroyed) return
        if (sock.writableLength < 64 * 1024) {
          const burst: Buffer[] = []
          for (let i = 0; i < 100; i++) burst.push(publishPacket('appliances/flood/telemetry', FLOOD_PAYLOAD, (id++ % 65535) + 1))
          sock.write(Buffer.concat(burst))
        }
        setTimeout(pump, 1)
      }
      // Wait for the CONNACK: aedes drops a client that queues more than 42 packets before it.
      sock.once('data', pump)
      sock.once('close', () => setTimeout(flood, 5))
    }
    flood()
    let stormAttempts = 0
    const storm = async (): Promise<void> => {
      while (attacking) {
        stormAttempts++
        await new Promise<void>((resolve) => {
          const sock = connect(port, '127.0.0.1')
          sock.on('error', () => {})
          sock.once('close', () => resolve())
          sock.once('data', () => sock.destroy())
          sock.write(connectPacket(`x${stormAttempts}`, 'good0', 'wrong'))
          setTimeout(() => sock.destroy(), 500)
        })
      }
    }
    const storms = Array.from({ length: 8 }, storm)
    const underAttack = await measure(good, 1000, seq)
    attacking = false
    await Promise.all(storms)

    const ratio = underAttack / baseline
    const c = h.broker.counters()
    console.log(`flood: baseline ${baseline} acks/s, under attack ${underAttack} acks/s, ratio ${ratio.toFixed(2)}; flood readings accepted ${ing.stats().accepted - baseline - underAttack}, flood connections ${floodConnections}, inflight cut-offs ${c.inflightExceeded}, storm attempts ${stormAttempts}, refused by rate ${c.connectionsRefusedRate}, auth failures ${c.authFailures}`)
    expect(baseline).toBeGreaterThan(50)
    expect(ratio).toBeGreaterThan(0.5)
    expect(c.connectionsRefusedRate).toBeGreaterThan(0)
  })
})

import type { MQEmitter } from 'mqemitter'
import { connect as tcpConnect } from 'node:net'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { deviceOpts, type Harness, startHarness, until } from './harness.ts'

let h: Harness
afterEach(async () => {
  await h?.close()
})

/** The return codes of the SUBACK, one per filter (mqtt.js turns any 0x80 into an error). */
function subackCodes(c: MqttClient, filters: string[]): Promise<number[]> {
  return new Promise((resolve) => {
    c.once('packetreceive', function onPacket(p) {
      if (p.cmd === 'suback') resolve(p.granted as number[])
      else c.once('packetreceive', onPacket)
    })
    c.subscribe(filters, { qos: 1 }, () => {})
  })
}

const telemetry = JSON.stringify({ v: 1, boot: 1, ts: Date.now(), seq: 0, metrics: { cabinet_temp_c: 4 } })

describe('embedded broker: identity and ACL', () => {
  it('refuses bad credentials with CONNACK 4 and a client id that is not the device id with CONNACK 2', async () => {
    h = await startHarness()
    await expect(h.connect(deviceOpts('fridge1', { password: 'wrong' }))).rejects.toMatchObject({ code: 4 })
    await expect(h.connect(deviceOpts('fridge1', { clientId: 'fridge2' }))).rejects.toMatchObject({ code: 2 })
    expect(h.broker.counters().authFailures).toBe(2)
  })

  it('hands a device publish to onPublish and reports the connection online', async () => {
    h = await startHarness()
    const c = await h.connect(deviceOpts('fridge1'))
    await c.publishAsync('appliances/fridge1/telemetry', telemetry, { qos: 1 })
    await until(() => h.published.length === 2)
    expect(h.published).toContainEqual({ deviceId: 'fridge1', kind: 'status', payload: expect.stringContaining('"state":"online"') })
    expect(h.published).toContainEqual({ deviceId: 'fridge1', kind: 'telemetry', payload: telemetry })
    expect(h.broker.connectedDevices()).toBe(1)
  })

  it('closes the connection of a device publishing under another device id (cross-device publish refused)', async () => {
    h = await startHarness()
    const c = await h.connect(deviceOpts('fridge1'))
    const closed = new Promise<void>((r) => c.once('close', () => r()))
    c.publish('appliances/fridge2/telemetry', telemetry, { qos: 1 })
    await closed
    expect(h.published.filter((p) => p.kind === 'telemetry')).toEqual([])
    expect(h.broker.counters().aclDeniedPublish).toBe(1)
  })

  it('lets a gateway publish only for the devices registered behind it', async () => {
    h = await startHarness()
    const g = await h.connect(deviceOpts('hub1'))
    await g.publishAsync('appliances/fridge2/telemetry', telemetry, { qos: 1 })
    expect(h.published).toEqual([{ deviceId: 'fridge2', kind: 'telemetry', payload: telemetry }])
    const closed = new Promise<void>((r) => g.once('close', () => r()))
    g.publish('appliances/fridge1/telemetry', telemetry, { qos: 1 })
    await closed
    expect(h.published.length).toBe(1)
  })

  it("refuses subscriptions to another device's topics and to $SYS with SUBACK 0x80 (MQTT 3.1.1 §3.9.3)", async () => {
    h = await startHarness()
    const c = await h.connect(deviceOpts('fridge1'))
    expect(await subackCodes(c, ['appliances/fridge1/commands', 'appliances/fridge2/telemetry', '$SYS/#', '#', 'appliances/+/commands'])).toEqual([1, 128, 128, 128, 128])
  })

  it('never forwards $SYS or other devices’ data to a device, and delivers its own commands', async () => {
    h = await startHarness()
    const c = await h.connect(deviceOpts('fridge1'))
    const got: string[] = []
    c.on('message', (t) => got.push(t))
    await c.subscribeAsync('appliances/fridge1/commands', { qos: 1 })
    await h.broker.publish('$SYS/x/new/clients', 'y')
    await h.broker.publish('appliances/fridge2/commands', '{}', { qos: 1 })
    await h.broker.publish('appliances/fridge1/commands', '{}', { qos: 1 })
    await until(() => got.length >= 1)
    await new Promise((r) => setTimeout(r, 50))
    expect(got).toEqual(['appliances/fridge1/commands'])
  })

  it('acknowledges and drops a publish to a $ topic without closing the connection (MQTT-4.7.2-1, MQTT-3.3.5-2)', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const watcher = await h.connect({ clientId: 'w', protocolVersion: 4 })
    const got: string[] = []
    watcher.on('message', (t) => got.push(t))
    await watcher.subscribeAsync(['$SYS/fake', '$SYS/fake2'], { qos: 1 })
    const c = await h.connect(deviceOpts('fridge1'))
    await c.publishAsync('$SYS/fake', 'x', { qos: 1 })
    await c.publishAsync('$SYS/fake2', 'x', { qos: 2, retain: true })
    await c.publishAsync('appliances/fridge1/telemetry', telemetry, { qos: 1 })
    await new Promise((r) => setTimeout(r, 50))
    expect(c.connected).toBe(true)
    expect(got).toEqual([])
    expect(h.published.filter((p) => p.kind === 'telemetry').length).toBe(1)
    expect(h.broker.counters().aclDeniedPublish).toBe(2)
    // Not retained either: a new subscriber gets nothing.
    const late = await h.connect({ clientId: 'late', protocolVersion: 4 })
    const lateGot: string[] = []
    late.on('message', (t) => lateGot.push(t))
    await late.subscribeAsync(['$SYS/fake', '$SYS/fake2'], { qos: 1 })
    await new Promise((r) => setTimeout(r, 50))
    expect(lateGot).toEqual([])
  })

  it('refuses the chosen filters to anonymous clients with SUBACK 0x80 and grants the rest', async () => {
    h = await startHarness({}, { allowAnonymous: true, anonymousDenyFilters: ['test/nosubscribe', 'secret/#'] })
    const c = await h.connect({ clientId: 'anon', protocolVersion: 4 })
    expect(await subackCodes(c, ['test/nosubscribe', 'secret/a/b', 'secret/#', 'test/other', 'TopicA/#'])).toEqual([128, 128, 128, 1, 1])
    expect(c.connected).toBe(true)
  })

  it('lets the service account subscribe to appliances/# but not #', async () => {
    h = await startHarness()
    const s = await h.connect(deviceOpts('pipeline'))
    expect(await subackCodes(s, ['appliances/#', 'forewarn/#', '#', '$SYS/#'])).toEqual([1, 1, 128, 128])
  })
})

describe('embedded broker: revocation', () => {
  it('disconnectDevice closes a revoked device at once and it goes offline', async () => {
    h = await startHarness()
    const c = await h.connect(deviceOpts('fridge1'))
    await until(() => h.broker.connectedDevices() === 1)
    const closed = new Promise<void>((r) => c.once('close', () => r()))
    h.broker.disconnectDevice('fridge1')
    await closed
    await until(() => h.published.some((p) => p.kind === 'status' && p.payload.includes('offline')))
    expect(h.broker.connectedDevices()).toBe(0)
  })
})

describe('embedded broker: last will and commit point', () => {
  it('publishes the retained offline will when a device drops, and reports it through onPublish', async () => {
    h = await startHarness()
    const c = await h.connect(deviceOpts('fridge1', { will: { topic: 'appliances/fridge1/status', payload: Buffer.from('{"v":1,"state":"offline"}'), qos: 1, retain: true } }))
    const watcher = await h.connect(deviceOpts('pipeline'))
    await c.publishAsync('appliances/fridge1/status', '{"v":1,"state":"online"}', { qos: 1, retain: true })
    c.stream.destroy()
    await until(() => h.published.some((p) => p.payload.includes('offline')))
    expect(h.broker.connectedDevices()).toBe(0)
    // The will is retained: a late subscriber sees offline (MQTT-3.1.2-17).
    const msg = new Promise<string>((r) => watcher.once('message', (_t, m) => r(m.toString())))
    await watcher.subscribeAsync('appliances/fridge1/status', { qos: 1 })
    expect(await msg).toBe('{"v":1,"state":"offline"}')
  })

  it('installs the offline will for a device that sent none, and refuses a forged will with CONNACK 5', async () => {
    h = await startHarness()
    await expect(h.connect(deviceOpts('fridge1', { will: { topic: 'appliances/fridge2/status', payload: Buffer.from('{"v":1,"state":"offline"}'), qos: 1, retain: true } })))
      .rejects.toMatchObject({ code: 5 })
    const c = await h.connect(deviceOpts('fridge1'))
    c.stream.destroy()
    await until(() => h.published.some((p) => p.kind === 'status' && p.payload === '{"v":1,"state":"offline"}'))
  })

  it('drops the stale will of a session taken over by the same device (it stays online)', async () => {
    h = await startHarness()
    await h.connect(deviceOpts('fridge1'))
    await h.connect(deviceOpts('fridge1'))
    await until(() => h.broker.counters().staleWillsDropped === 1)
    // clientReady follows the CONNACK on the wire, so the count may lag the client's 'connect'.
    await until(() => h.broker.connectedDevices() === 1)
    expect(h.published.filter((p) => p.payload.includes('offline'))).toEqual([])
  })

  it('with shared state, a dead broker\'s will reports an absent device offline and is dropped for one already back', async () => {
    h = await startHarness()
    const will = (id: string) => ({ cmd: 'publish' as const, topic: `appliances/${id}/status`, payload: Buffer.from('{"v":1,"state":"offline"}'), qos: 1 as const, retain: true, dup: false, brokerId: 'dead-broker' })
    const authorize = (client: Parameters<typeof h.broker.aedes.authorizePublish>[0], packet: ReturnType<typeof will>) =>
      new Promise<Error | null | undefined>((r) => h.broker.aedes.authorizePublish(client, packet, (err) => r(err)))
    expect(await authorize(null, will('fridge2'))).toBeNull()
    expect(h.published).toEqual([{ deviceId: 'fridge2', kind: 'status', payload: '{"v":1,"state":"offline"}' }])
    await h.connect(deviceOpts('fridge1'))
    await until(() => h.broker.connectedDevices() === 1)
    const live = (h.broker.aedes as unknown as { clients: Record<string, Parameters<typeof h.broker.aedes.authorizePublish>[0]> }).clients.fridge1 ?? null
    expect(await authorize(live, will('fridge1'))).toBeInstanceOf(Error)
    expect(h.published.filter((p) => p.payload.includes('offline')).map((p) => p.deviceId)).toEqual(['fridge2'])
  })

  it('sends the PUBACK only after onPublish resolved (the commit), and none when it rejects', async () => {
    h = await startHarness()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let committed = false
    h.commit = async (p) => {
      if (p.kind !== 'telemetry') return
      await gate
      committed = true
    }
    const c = await h.connect(deviceOpts('fridge1'))
    let acked = false
    const ack = c.publishAsync('appliances/fridge1/telemetry', telemetry, { qos: 1 }).then(() => (acked = true))
    await new Promise((r) => setTimeout(r, 100))
    expect(acked).toBe(false)
    release()
    await ack
    expect(committed).toBe(true)

    h.commit = async (p) => {
      if (p.kind === 'telemetry') throw new Error('disk full')
    }
    const closed = new Promise<void>((r) => c.once('close', () => r()))
    let acked2 = false
    c.publish('appliances/fridge1/telemetry', telemetry, { qos: 1 }, () => (acked2 = true))
    await closed
    expect(acked2).toBe(false)
    expect(h.broker.counters().publishFailures).toBe(1)
  })
})

describe('embedded broker: limits and conformance', () => {
  it('refuses a zero-length client id with clean session 0 with CONNACK 0x02 (MQTT-3.1.3-8)', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    // mqtt.js will not send this CONNECT, so it is written by hand: MQTT 3.1.1, flags 0 (clean session 0), keep-alive 60, empty id.
    const sock = tcpConnect(h.broker.port, '127.0.0.1')
    const reply = new Promise<Buffer>((r) => sock.once('data', r))
    sock.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 60, 0, 0]))
    expect([...(await reply)]).toEqual([0x20, 2, 0, 2])
    sock.destroy()
    // MQTT-3.1.3-6: with clean session 1 the server assigns an id.
    const ok = await h.connect({ clientId: '', clean: true, protocolVersion: 4, reconnectPeriod: 0 })
    expect(ok.connected).toBe(true)
  })

  it('survives a backlog of messages behind slow deliveries (no recursion through a queued emitter)', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    // aedes' default emitter queued messages beyond 100 in progress and, when they completed
    // synchronously, ran the queue recursively: a backlog of thousands overflowed the stack.
    // aedes' type leaves out `mq`, its emitter.
    const mq = (h.broker.aedes as unknown as { mq: MQEmitter }).mq
    const held: (() => void)[] = []
    let delivered = 0
    mq.on('burst/x', (_msg, cb) => {
      delivered++
      if (held.length < 200) held.push(cb)
      else cb()
    })
    for (let i = 0; i < 50_000; i++) mq.emit({ topic: 'burst/x', payload: String(i) })
    for (const cb of held.splice(0)) cb()
    expect(delivered).toBe(50_000)
  })

  it('closes the socket as soon as a packet header declares more than maxPacketBytes', async () => {
    h = await startHarness({ maxPacketBytes: 1024 })
    const c = await h.connect(deviceOpts('fridge1'))
    const closed = new Promise<void>((r) => c.once('close', () => r()))
    c.publish('appliances/fridge1/telemetry', Buffer.alloc(4096, 32), { qos: 1 })
    await closed
    expect(h.broker.counters().oversizePackets).toBe(1)
    expect(h.published.filter((p) => p.kind === 'telemetry')).toEqual([])
  })

  it('rejects a raw header declaring 200 MB without waiting for the body', async () => {
    h = await startHarness()
    const sock = tcpConnect(h.broker.port, '127.0.0.1')
    const closed = new Promise((r) => sock.once('close', r))
    // PUBLISH, Remaining Length 200,000,000 (variable-length encoding), then nothing.
    sock.write(Buffer.from([0x30, 0x80, 0x84, 0xaf, 0x5f]))
    await closed
    expect(h.broker.counters().oversizePackets).toBe(1)
  })

  it('refuses connections beyond the per-address rate', async () => {
    h = await startHarness({ connectionsPerAddressPerSec: 3, rateLimitExempt: [] })
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map(() => h.connect(deviceOpts('pipeline', { clientId: `svc-${Math.random()}` }))))
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(3)
    expect(h.broker.counters().connectionsRefusedRate).toBe(2)
  })

  it('accepts keep-alive 0 and one above maxKeepAliveS, and closes either after 1.5 × maxKeepAliveS of silence', async () => {
    h = await startHarness({ maxKeepAliveS: 1 })
    for (const keepalive of [0, 120]) {
      const c = await h.connect(deviceOpts('fridge1', { keepalive }))
      expect(c.connected).toBe(true)
      const t0 = Date.now()
      // mqtt.js sends no PINGREQ with keep-alive 0, and none within 1.5 s with 120: the socket is silent.
      await new Promise<void>((r) => c.stream.once('close', () => r()))
      const elapsed = Date.now() - t0
      expect(elapsed).toBeGreaterThanOrEqual(1400)
      expect(elapsed).toBeLessThan(3500)
    }
    expect(h.broker.counters().idleClosed).toBe(2)
  })

  it('keeps a client with keep-alive 0 that talks: the idle limit counts silence, not age', async () => {
    h = await startHarness({ maxKeepAliveS: 1 })
    const c = await h.connect(deviceOpts('fridge1', { keepalive: 0 }))
    for (let i = 0; i < 6; i++) {
      await c.publishAsync('appliances/fridge1/telemetry', telemetry, { qos: 1 })
      await new Promise((r) => setTimeout(r, 500))
    }
    expect(c.connected).toBe(true)
    expect(h.broker.counters().idleClosed).toBe(0)
  })

  it('closes a client with more publishes awaiting commit than maxInflightPerClient', async () => {
    h = await startHarness({ maxInflightPerClient: 2 })
    h.commit = (p) => (p.kind === 'telemetry' ? new Promise(() => {}) : Promise.resolve())
    const c = await h.connect(deviceOpts('fridge1'))
    const closed = new Promise<void>((r) => c.once('close', () => r()))
    for (let i = 0; i < 5; i++) c.publish('appliances/fridge1/telemetry', telemetry, { qos: 1 })
    await closed
    expect(h.broker.counters().inflightExceeded).toBeGreaterThanOrEqual(1)
  })

  it('QoS 1 redelivery: an unacknowledged publish is resent on reconnect of a persistent session (MQTT-4.4.0-1)', async () => {
    h = await startHarness()
    let fail = true
    h.commit = async (p) => {
      if (p.kind === 'telemetry' && fail) {
        fail = false
        throw new Error('transient')
      }
    }
    const c = mqtt.connect(h.url, deviceOpts('fridge1', { clean: false, reconnectPeriod: 50 }))
    const acked = c.publishAsync('appliances/fridge1/telemetry', telemetry, { qos: 1 })
    await acked
    expect(h.published.filter((p) => p.kind === 'telemetry').length).toBe(1)
    await c.endAsync()
  })
})

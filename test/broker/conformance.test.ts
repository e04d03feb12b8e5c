/**
 * MQTT 3.1.1 conformance of the embedded broker, one test per normative statement (cited by its
 * number in OASIS MQTT Version 3.1.1). Runs with --allow-anonymous semantics so topics are free.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { type Harness, startHarness, until } from './harness.ts'

let h: Harness
afterEach(async () => {
  await h?.close()
})

const anon = (clientId: string, extra: IClientOptions = {}): IClientOptions => ({ clientId, protocolVersion: 4, reconnectPeriod: 0, ...extra })

function collect(c: MqttClient): { topic: string; payload: string; retain: boolean; qos: number }[] {
  const got: { topic: string; payload: string; retain: boolean; qos: number }[] = []
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos }))
  return got
}
const settle = (ms = 60): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('MQTT 3.1.1 conformance (embedded broker)', () => {
  it('MQTT-3.3.1-5/-6: a retained message is stored and sent to new subscribers with RETAIN=1', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const pub = await h.connect(anon('p'))
    await pub.publishAsync('t/retained', 'r1', { qos: 1, retain: true })
    const sub = await h.connect(anon('s'))
    const got = collect(sub)
    await sub.subscribeAsync('t/#', { qos: 1 })
    await until(() => got.length === 1)
    expect(got[0]).toMatchObject({ topic: 't/retained', payload: 'r1', retain: true })
  })

  it('MQTT-3.3.1-9: a message forwarded to an existing subscription has RETAIN=0', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const sub = await h.connect(anon('s'))
    const got = collect(sub)
    await sub.subscribeAsync('t/x', { qos: 1 })
    const pub = await h.connect(anon('p'))
    await pub.publishAsync('t/x', 'live', { qos: 1, retain: true })
    await until(() => got.length === 1)
    expect(got[0]?.retain).toBe(false)
  })

  it('MQTT-3.3.1-10/-11: a retained zero-byte payload removes the retained message', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const pub = await h.connect(anon('p'))
    await pub.publishAsync('t/gone', 'x', { qos: 1, retain: true })
    await pub.publishAsync('t/gone', '', { qos: 1, retain: true })
    const sub = await h.connect(anon('s'))
    const got = collect(sub)
    await sub.subscribeAsync('t/gone', { qos: 1 })
    await settle()
    expect(got).toEqual([])
  })

  it('MQTT-3.1.2-8: the will is published when the network connection closes without DISCONNECT', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const sub = await h.connect(anon('s'))
    const got = collect(sub)
    await sub.subscribeAsync('will/#', { qos: 1 })
    const c = await h.connect(anon('w', { will: { topic: 'will/w', payload: Buffer.from('bye'), qos: 1, retain: false } }))
    c.stream.destroy()
    await until(() => got.length === 1)
    expect(got[0]).toMatchObject({ topic: 'will/w', payload: 'bye' })
  })

  it('MQTT-3.1.2-10 / MQTT-3.14.4-3: a DISCONNECT discards the will', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const sub = await h.connect(anon('s'))
    const got = collect(sub)
    await sub.subscribeAsync('will/#', { qos: 1 })
    const c = await h.connect(anon('w', { will: { topic: 'will/w', payload: Buffer.from('bye'), qos: 1, retain: false } }))
    await c.endAsync()
    await settle()
    expect(got).toEqual([])
  })

  it('MQTT-3.1.2-4 / MQTT-3.2.2-2: a persistent session resumes with Session Present 1 and queued QoS 1 messages (MQTT-3.1.2-5)', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const s1 = await h.connect(anon('persist', { clean: false }))
    await s1.subscribeAsync('q/#', { qos: 1 })
    await s1.endAsync()
    const pub = await h.connect(anon('p'))
    await pub.publishAsync('q/1', 'while-away', { qos: 1 })
    const s2 = mqtt.connect(h.url, anon('persist', { clean: false }))
    const got = collect(s2)
    const connack = await new Promise<{ sessionPresent: boolean }>((r) => s2.once('connect', r))
    expect(connack.sessionPresent).toBe(true)
    await until(() => got.length === 1)
    expect(got[0]).toMatchObject({ topic: 'q/1', payload: 'while-away', qos: 1 })
    await s2.endAsync()
  })

  it('MQTT-3.1.2-6 / MQTT-3.2.2-1: a clean session starts fresh with Session Present 0', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const s1 = await h.connect(anon('c', { clean: false }))
    await s1.subscribeAsync('q/#', { qos: 1 })
    await s1.endAsync()
    const s2 = mqtt.connect(h.url, anon('c', { clean: true }))
    const connack = await new Promise<{ sessionPresent: boolean }>((r) => s2.once('connect', r))
    expect(connack.sessionPresent).toBe(false)
    const got = collect(s2)
    const pub = await h.connect(anon('p'))
    await pub.publishAsync('q/1', 'x', { qos: 1 })
    await settle()
    expect(got).toEqual([])
    await s2.endAsync()
  })

  it('MQTT-4.7.2-1: a subscription to # does not receive topics starting with $', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const sub = await h.connect(anon('s'))
    const got = collect(sub)
    await sub.subscribeAsync('#', { qos: 0 })
    await h.broker.publish('$SYS/test', 'sys')
    await h.broker.publish('plain', 'p')
    await until(() => got.length >= 1)
    await settle()
    expect(got.map((m) => m.topic)).toEqual(['plain'])
  })

  it('MQTT-3.3.5-1: with overlapping subscriptions the message is delivered at the maximum granted QoS', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const sub = await h.connect(anon('s'))
    const got = collect(sub)
    await sub.subscribeAsync({ 'o/+': { qos: 0 }, 'o/#': { qos: 1 } })
    const pub = await h.connect(anon('p'))
    await pub.publishAsync('o/1', 'x', { qos: 1 })
    await until(() => got.length >= 1)
    await settle()
    expect(Math.max(...got.map((m) => m.qos))).toBe(1)
  })

  it('MQTT-3.1.4-2: a second connection with the same client id disconnects the first', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const first = await h.connect(anon('dup'))
    const closed = new Promise<void>((r) => first.once('close', () => r()))
    await h.connect(anon('dup'))
    await closed
  })

  it('MQTT-3.1.3-8: a zero-length client id with clean session 0 gets CONNACK 0x02 (identifier rejected)', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const { connect } = await import('node:net')
    const sock = connect(h.broker.port, '127.0.0.1')
    const reply = new Promise<Buffer>((r) => sock.once('data', r))
    sock.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 60, 0, 0]))
    expect([...(await reply)]).toEqual([0x20, 2, 0, 2])
    sock.destroy()
  })

  it('MQTT-3.1.0-1 / MQTT-3.1.0-2: a packet before CONNECT, or a second CONNECT, closes the connection', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const { connect } = await import('node:net')
    const sock = connect(h.broker.port, '127.0.0.1')
    const closed = new Promise<void>((r) => sock.once('close', () => r()))
    sock.write(Buffer.from([0xc0, 0])) // PINGREQ first
    await closed
    const c = await h.connect(anon('twice'))
    const closed2 = new Promise<void>((r) => c.once('close', () => r()))
    c.stream.write(Buffer.from([0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 2, 0x61, 0x62]))
    await closed2
  })

  it('MQTT 3.1.1 §3.2.2.3: keep-alive 0 and 65535 are accepted with CONNACK 0, never a return code above 5', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const { connect } = await import('node:net')
    for (const [hi, lo] of [[0, 0], [0xff, 0xff]]) {
      const sock = connect(h.broker.port, '127.0.0.1')
      const reply = new Promise<Buffer>((r) => sock.once('data', r))
      sock.write(Buffer.from([0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, hi as number, lo as number, 0, 2, 0x6b, 0x61]))
      expect([...(await reply)]).toEqual([0x20, 2, 0, 0])
      sock.destroy()
    }
  })

  it('MQTT-3.1.2-24: a client silent for 1.5 × its keep-alive is disconnected', async () => {
    h = await startHarness({}, { allowAnonymous: true })
    const { connect } = await import('node:net')
    const sock = connect(h.broker.port, '127.0.0.1')
    sock.resume() // consume the CONNACK, or 'close' waits for the unread data
    const t0 = Date.now()
    const closed = new Promise<void>((r) => sock.once('close', () => r()))
    // CONNECT with keep-alive 1 s, clean session, client id "ka"; then silence.
    sock.write(Buffer.from([0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 1, 0, 2, 0x6b, 0x61]))
    await closed
    const elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(1400)
    expect(elapsed).toBeLessThan(3000)
  })
})

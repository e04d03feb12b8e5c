import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import type { Reading, TopicKind } from '../../domain/index.ts'
import { createEmbeddedBroker, type EmbeddedBroker, type Principal } from '../../broker/index.ts'
import { createIngest, type Ingest } from '../../ingest/index.ts'
import { createMqttSource, type MqttSource } from '../../ingest/mqtt-source.ts'
import { describeService } from '../services/availability.ts'
import { startMosquitto, type MosquittoService } from '../services/mosquitto.ts'

let broker: EmbeddedBroker | null = null
let ingest: Ingest | null = null
const sources: MqttSource[] = []
afterEach(async () => {
  for (const s of sources.splice(0)) await s.close()
  await broker?.close()
  await ingest?.close()
  broker = null
  ingest = null
})

const accounts: Record<string, [string, Principal]> = {
  fridge1: ['pw1', { kind: 'device', deviceId: 'fridge1' }],
  pipeline: ['pwp', { kind: 'service', name: 'pipeline' }],
}
const reading = (seq: number): string => JSON.stringify({ v: 1, boot: 1, ts: Date.now() - 1000, seq, metrics: { cabinet_temp_c: 4 } })

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timeout')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('mqtt source (pipeline as an MQTT client of an external broker)', () => {
  it('ingests every reading exactly once across a source outage and a failed commit', async () => {
    // The broker alone, acknowledging devices on receipt, as `forewarn broker` does.
    broker = await createEmbeddedBroker({
      port: 0,
      authenticate: async (u, p) => (accounts[u]?.[0] === p.toString() ? (accounts[u]?.[1] ?? null) : null),
      onPublish: async () => {},
    })
    const url = `mqtt://127.0.0.1:${broker.port}`
    const got: Reading[] = []
    ingest = createIngest({
      dataDir: null,
      lookupDevice: (id) => (id === 'fridge1' ? { type: 'refrigerator', revoked: false } : undefined),
      onReadings: (rs) => {
        got.push(...rs)
      },
      onStatus: () => {},
      onDeviceEvent: () => {},
    })
    await ingest.start()
    const ing = ingest
    let failNext = false
    let failures = 0
    const flaky = {
      accept: (id: string, kind: TopicKind, payload: Buffer) => {
        if (failNext && kind === 'telemetry') {
          failNext = false
          failures++
          return Promise.reject(new Error('disk full'))
        }
        return ing.accept(id, kind, payload)
      },
    }
    const opts = { url, username: 'pipeline', password: 'pwp', clientId: 'forewarn-pipeline', ingest: flaky, reconnectPeriodMs: 50 }
    const s1 = createMqttSource(opts)
    sources.push(s1)
    await s1.ready

    const dev = mqtt.connect(url, { clientId: 'fridge1', username: 'fridge1', password: 'pw1', protocolVersion: 4, reconnectPeriod: 0 })
    await new Promise((r) => dev.once('connect', r))
    for (let i = 0; i < 10; i++) await dev.publishAsync('appliances/fridge1/telemetry', reading(i), { qos: 1 })
    await until(() => got.length === 10)

    // Outage: the persistent session queues what arrives meanwhile.
    await s1.close()
    sources.splice(0)
    for (let i = 10; i < 20; i++) await dev.publishAsync('appliances/fridge1/telemetry', reading(i), { qos: 1 })
    failNext = true
    const s2 = createMqttSource(opts)
    sources.push(s2)
    await until(() => got.length === 20)
    expect(failures).toBe(1)
    expect(got.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    await dev.endAsync()
  })
})

async function pipelineInto(url: string, username: string, password: string) {
  const got: Reading[] = []
  const ing = createIngest({
    dataDir: null,
    lookupDevice: () => ({ type: 'refrigerator', revoked: false }),
    onReadings: (rs) => {
      got.push(...rs)
    },
    onStatus: () => {},
    onDeviceEvent: () => {},
  })
  ingest = ing
  await ing.start()
  const src = createMqttSource({ url, username, password, clientId: 'forewarn-pipeline', ingest: ing, reconnectPeriodMs: 50 })
  sources.push(src)
  await src.ready
  return { got, ing, src }
}

describe('mqtt source throughput', () => {
  it('shares group commits between messages in flight (not one fsync per message)', async () => {
    broker = await createEmbeddedBroker({
      port: 0,
      authenticate: async (u, p) => (accounts[u]?.[0] === p.toString() ? (accounts[u]?.[1] ?? null) : null),
      onPublish: async () => {},
    })
    const url = `mqtt://127.0.0.1:${broker.port}`
    const { got, ing } = await pipelineInto(url, 'pipeline', 'pwp')
    const dev = await mqtt.connectAsync(url, { clientId: 'fridge1', username: 'fridge1', password: 'pw1', reconnectPeriod: 0 })
    const n = 2000
    await Promise.all(Array.from({ length: n }, (_, i) => dev.publishAsync('appliances/fridge1/telemetry', reading(i), { qos: 1 })))
    await until(() => got.length === n)
    expect(ing.stats().batches).toBeLessThan(n / 10)
    await dev.endAsync()
  })
})

describeService('mosquitto', 'mqtt source against Mosquitto', () => {
  let mosquitto: MosquittoService | null = null
  afterEach(async () => {
    await mosquitto?.stop()
    mosquitto = null
  })

  it('ingests from Mosquitto with a persistent session across a source restart', async () => {
    mosquitto = await startMosquitto()
    const { got } = await pipelineInto(mosquitto.url, 'pipeline', 'unused')
    const dev = await mqtt.connectAsync(mosquitto.url, { clientId: 'fridge1', reconnectPeriod: 0 })
    for (let i = 0; i < 5; i++) await dev.publishAsync('appliances/fridge1/telemetry', reading(i), { qos: 1 })
    await until(() => got.length === 5)
    const s = sources.splice(0)
    for (const x of s) await x.close()
    for (let i = 5; i < 10; i++) await dev.publishAsync('appliances/fridge1/telemetry', reading(i), { qos: 1 })
    const again = createMqttSource({ url: mosquitto.url, username: 'pipeline', password: 'unused', clientId: 'forewarn-pipeline', ingest: ingest as Ingest })
    sources.push(again)
    await until(() => got.length === 10)
    expect(got.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    await dev.endAsync()
  })
})

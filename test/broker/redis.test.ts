/**
 * The embedded broker on Redis (aedes-persistence-redis + mqemitter-redis): a broker restart keeps
 * persistent sessions and their queued QoS 1 messages.
 */
import mqtt from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createEmbeddedBroker, type EmbeddedBroker, type Principal } from '../../broker/index.ts'
import { createRedisState } from '../../broker/redis.ts'
import { describeService } from '../services/availability.ts'
import { startRedis, type RedisService } from '../services/redis.ts'

const accounts: Record<string, Principal> = {
  fridge1: { kind: 'device', deviceId: 'fridge1' },
  pipeline: { kind: 'service', name: 'pipeline' },
}
const start = (url: string, port = 0): Promise<EmbeddedBroker> =>
  createEmbeddedBroker({
    port,
    authenticate: async (u, p) => (p.toString() === `pw-${u}` ? (accounts[u] ?? null) : null),
    onPublish: async () => {},
    ...createRedisState({ url }),
  })

describeService('redis', 'embedded broker on Redis', () => {
  let redis: RedisService
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('keeps a persistent session and its queued QoS 1 messages across a broker restart', async () => {
    const a = await start(redis.url)
    const url = `mqtt://127.0.0.1:${a.port}`
    const sub = await mqtt.connectAsync(url, { clientId: 'pipeline', username: 'pipeline', password: 'pw-pipeline', clean: false, reconnectPeriod: 0 })
    await sub.subscribeAsync('appliances/+/telemetry', { qos: 1 })
    await sub.endAsync()
    const dev = await mqtt.connectAsync(url, { clientId: 'fridge1', username: 'fridge1', password: 'pw-fridge1', reconnectPeriod: 0 })
    for (let i = 0; i < 5; i++) await dev.publishAsync('appliances/fridge1/telemetry', `r${i}`, { qos: 1 })
    await dev.publishAsync('appliances/fridge1/status', '{"v":1,"state":"online"}', { qos: 1, retain: true })
    await dev.endAsync()
    await a.close()

    const b = await start(redis.url, a.port)
    try {
      const again = mqtt.connect(`mqtt://127.0.0.1:${b.port}`, { clientId: 'pipeline', username: 'pipeline', password: 'pw-pipeline', clean: false, reconnectPeriod: 0 })
      const got: string[] = []
      again.on('message', (_t, m) => got.push(m.toString()))
      const connack = await new Promise<{ sessionPresent: boolean }>((r) => again.once('connect', r))
      expect(connack.sessionPresent).toBe(true)
      for (let i = 0; i < 1000 && got.length < 5; i++) await new Promise((r) => setTimeout(r, 10)) // up to 10 s on a loaded machine
      expect(got).toEqual(['r0', 'r1', 'r2', 'r3', 'r4'])
      // Retained messages live in Redis too (MQTT-3.3.1-6 across the restart): the device's clean
      // DISCONNECT left its status retained as offline.
      const retained = new Promise<string>((r) => again.once('message', (_t, m) => r(m.toString())))
      await again.subscribeAsync('appliances/fridge1/status', { qos: 1 })
      expect(await retained).toBe('{"v":1,"state":"offline"}')
      await again.endAsync()
    } finally {
      await b.close()
    }
  })
})

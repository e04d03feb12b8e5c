import mqtt from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from './availability.ts'
import { startMosquitto, type MosquittoService } from './mosquitto.ts'
import { groupAlive } from './process.ts'

describeService('mosquitto', 'Mosquitto test broker', () => {
  let broker: MosquittoService
  beforeAll(async () => {
    broker = await startMosquitto()
  })
  afterAll(async () => {
    await broker?.stop()
  })

  it('delivers a QoS 1 publish to a subscriber', async () => {
    const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    try {
      const got = new Promise<string>((resolve) => sub.on('message', (_t, p) => resolve(p.toString())))
      await sub.subscribeAsync('smoke/#', { qos: 1 })
      await pub.publishAsync('smoke/1', 'hello', { qos: 1 })
      expect(await got).toBe('hello')
    } finally {
      await Promise.all([sub.endAsync(), pub.endAsync()])
    }
  })

  it('leaves no process behind when stopped', async () => {
    await broker.stop()
    expect(groupAlive(broker.pid)).toBe(false)
  })
})

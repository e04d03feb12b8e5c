import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import type { EmbeddedBroker } from '../../broker/index.ts'
import { runBroker } from '../../cli/broker.ts'

let broker: EmbeddedBroker | null = null
let dir = ''
afterEach(async () => {
  await broker?.close()
  broker = null
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('forewarn broker', () => {
  it('serves plain MQTT, MQTT over TLS and over WebSocket with accounts from a file, and keeps devices to their topics', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-broker-'))
    // A throw-away self-signed certificate for 127.0.0.1.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    writeFileSync(join(dir, 'users.json'), JSON.stringify([
      { username: 'fridge1', password: 's3cret-1', principal: { kind: 'device', deviceId: 'fridge1' } },
      { username: 'pipeline', password: 's3cret-p', principal: { kind: 'service', name: 'pipeline' } },
    ]))
    broker = await runBroker({ port: 0, wsPort: 0, tlsPort: 0, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), users: join(dir, 'users.json'), handleSignals: false })
    expect(broker.wsPort).toBeGreaterThan(0)
    expect(broker.tlsPort).toBeGreaterThan(0)

    const pipeline = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'pipeline', username: 'pipeline', password: 's3cret-p', reconnectPeriod: 0 })
    const got: string[] = []
    pipeline.on('message', (_t, m) => got.push(m.toString()))
    await pipeline.subscribeAsync('appliances/+/telemetry', { qos: 1 })

    const overTls = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.tlsPort}`, {
      clientId: 'fridge1', username: 'fridge1', password: 's3cret-1', reconnectPeriod: 0, ca: readFileSync(join(dir, 'cert.pem')),
    })
    await overTls.publishAsync('appliances/fridge1/telemetry', 'tls', { qos: 1 })
    await overTls.endAsync()
    const overWs = await mqtt.connectAsync(`ws://127.0.0.1:${broker.wsPort}`, { clientId: 'fridge1', username: 'fridge1', password: 's3cret-1', reconnectPeriod: 0 })
    await overWs.publishAsync('appliances/fridge1/telemetry', 'ws', { qos: 1 })
    await overWs.endAsync()
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'x', username: 'fridge1', password: 'wrong', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 })

    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10))
    expect(got).toEqual(['tls', 'ws'])
    await pipeline.endAsync()
  })

  it('refuses clients without credentials unless --allow-anonymous', async () => {
    broker = await runBroker({ port: 0, handleSignals: false })
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 })
    await broker.close()
    broker = await runBroker({ port: 0, allowAnonymous: true, handleSignals: false })
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 })
    await c.subscribeAsync('anything/#', { qos: 1 })
    await c.endAsync()
  })
})

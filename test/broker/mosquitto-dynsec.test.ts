/**
 * The dynamic-security adapter against a real Mosquitto: a provisioned device connects and
 * publishes its own topics only, never sees another's, and revoke and rotate take effect at once.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createMosquittoDynsec, type MosquittoDynsec } from '../../broker/mosquitto.ts'
import { describeService } from '../services/availability.ts'
import { startMosquitto, type MosquittoService } from '../services/mosquitto.ts'

const ADMIN = { adminUsername: 'forewarn-admin', adminPassword: 'admin-secret-0123456789' }
const SERVICE = { username: 'forewarn-pipeline', password: 'pipeline-secret-0123456789' }

type Connected = { client: MqttClient; error: null } | { client: MqttClient; error: Error }

function connect(url: string, username: string, password: string, clientId = username): Promise<Connected> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { clientId, username, password, reconnectPeriod: 0, clean: true, protocolVersion: 4 })
    client.once('connect', () => resolve({ client, error: null }))
    client.once('error', (error) => resolve({ client, error }))
    client.once('close', () => resolve({ client, error: new Error('closed before CONNACK') }))
  })
}

async function connected(url: string, username: string, password: string, clientId = username): Promise<MqttClient> {
  const c = await connect(url, username, password, clientId)
  if (c.error) throw c.error
  return c.client
}

/** True when the SUBACK granted `filter` (mqtt.js rejects on a 0x80 return code). */
async function grants(c: MqttClient, filter: string): Promise<boolean> {
  return c.subscribeAsync(filter, { qos: 1 }).then((g) => g.every((x) => x.qos !== 128), () => false)
}

/** Collects what a client receives on `filter`. */
async function listen(c: MqttClient, filter: string): Promise<{ granted: boolean; got: string[] }> {
  const got: string[] = []
  c.on('message', (t, p) => got.push(`${t} ${p.toString()}`))
  return { granted: await grants(c, filter), got }
}

const closedOnce = (c: MqttClient): Promise<void> => new Promise((r) => c.once('close', () => r()))

describeService('mosquitto', 'Mosquitto dynamic-security provisioning', () => {
  let broker: MosquittoService
  let dynsec: MosquittoDynsec
  let pipeline: MqttClient
  const open: MqttClient[] = []
  beforeAll(async () => {
    broker = await startMosquitto({ dynsec: ADMIN })
    dynsec = await createMosquittoDynsec({ url: broker.url, ...ADMIN, timeoutMs: 5_000 })
    await dynsec.ensurePipelineAccount(SERVICE.username, SERVICE.password)
    // Twice: start-up provisioning is idempotent.
    await dynsec.ensurePipelineAccount(SERVICE.username, SERVICE.password)
    pipeline = await connected(broker.url, SERVICE.username, SERVICE.password)
  }, 30_000)
  afterAll(async () => {
    for (const c of open) c.end(true)
    pipeline?.end(true)
    await dynsec?.close()
    await broker?.stop()
  })

  it('lets a device publish its own topics, which the pipeline account receives', async () => {
    await dynsec.provisionDevice('ref-a1', 'pw-a1-0123456789abcdef')
    const { granted, got } = await listen(pipeline, 'appliances/+/telemetry')
    expect(granted).toBe(true)
    const dev = await connected(broker.url, 'ref-a1', 'pw-a1-0123456789abcdef')
    open.push(dev)
    await dev.publishAsync('appliances/ref-a1/telemetry', 'mine', { qos: 1 })
    await expect.poll(() => got, { timeout: 3_000 }).toEqual(['appliances/ref-a1/telemetry mine'])
  })

  it('drops a device publish on another device topic or a non-device topic', async () => {
    await dynsec.provisionDevice('ref-b1', 'pw-b1-0123456789abcdef')
    // Its own client id: the same id would take over the pipeline's session.
    const spy = await connected(broker.url, SERVICE.username, SERVICE.password, `spy-${open.length}`)
    open.push(spy)
    const { got } = await listen(spy, 'appliances/#')
    expect(await grants(spy, 'forewarn/#')).toBe(true)
    const dev = await connected(broker.url, 'ref-b1', 'pw-b1-0123456789abcdef')
    open.push(dev)
    await dev.publishAsync('appliances/ref-a1/telemetry', 'spoof', { qos: 1 })
    await dev.publishAsync('appliances/ref-a1/commands', 'spoof', { qos: 1 })
    await dev.publishAsync('appliances/ref-b1/commands', 'self-command', { qos: 1 })
    await dev.publishAsync('forewarn/warnings/ref-a1', 'spoof', { qos: 1 })
    await dev.publishAsync('appliances/ref-b1/telemetry', 'own', { qos: 1 })
    // The own publish is last: once it has arrived, the refused ones would have too.
    await expect.poll(() => got, { timeout: 3_000 }).toContain('appliances/ref-b1/telemetry own')
    expect(got).toEqual(['appliances/ref-b1/telemetry own'])
  })

  it('refuses a device subscription to another device, to all devices and to $SYS; grants its own commands', async () => {
    await dynsec.provisionDevice('ref-s1', 'pw-s1-0123456789abcdef')
    const dev = await connected(broker.url, 'ref-s1', 'pw-s1-0123456789abcdef')
    open.push(dev)
    const filters = ['appliances/ref-a1/commands', 'appliances/#', 'appliances/+/telemetry', '$SYS/#', '#', 'forewarn/#', 'appliances/ref-s1/commands']
    const granted: boolean[] = []
    for (const f of filters) granted.push(await grants(dev, f))
    expect(granted).toEqual([false, false, false, false, false, false, true])
    const got: string[] = []
    dev.on('message', (t, p) => got.push(`${t} ${p.toString()}`))
    await pipeline.publishAsync('appliances/ref-s1/commands', 'reboot', { qos: 1 })
    await expect.poll(() => got, { timeout: 3_000 }).toEqual(['appliances/ref-s1/commands reboot'])
  })

  it('refuses a device that connects with another client id or a wrong password', async () => {
    await dynsec.provisionDevice('ref-c1', 'pw-c1-0123456789abcdef')
    const other = await connect(broker.url, 'ref-c1', 'pw-c1-0123456789abcdef', 'ref-a1')
    other.client.end(true)
    expect(other.error?.message).toMatch(/Not authorized|Bad username or password/)
    const wrong = await connect(broker.url, 'ref-c1', 'not-the-password')
    wrong.client.end(true)
    expect(wrong.error?.message).toMatch(/Not authorized|Bad username or password/)
  })

  it('lets a gateway publish for the devices registered behind it, and only those', async () => {
    await dynsec.provisionDevice('hub-g1', 'pw-g1-0123456789abcdef')
    await dynsec.provisionDevice('wm-d1', 'pw-d1-0123456789abcdef', { gatewayId: 'hub-g1' })
    // Its own client id: the same id would take over the pipeline's session.
    const spy = await connected(broker.url, SERVICE.username, SERVICE.password, `spy-${open.length}`)
    open.push(spy)
    const { got } = await listen(spy, 'appliances/+/telemetry')
    const hub = await connected(broker.url, 'hub-g1', 'pw-g1-0123456789abcdef')
    open.push(hub)
    await hub.publishAsync('appliances/ref-a1/telemetry', 'not-mine', { qos: 1 })
    await hub.publishAsync('appliances/wm-d1/telemetry', 'behind', { qos: 1 })
    await expect.poll(() => got, { timeout: 3_000 }).toEqual(['appliances/wm-d1/telemetry behind'])
    // Revoking the device behind it takes it away from the gateway too.
    await dynsec.revokeDevice('wm-d1', { gatewayId: 'hub-g1' })
    await hub.publishAsync('appliances/wm-d1/telemetry', 'after-revoke', { qos: 1 }).catch(() => undefined)
    await hub.publishAsync('appliances/hub-g1/telemetry', 'own', { qos: 1 })
    await expect.poll(() => got, { timeout: 3_000 }).toContain('appliances/hub-g1/telemetry own')
    expect(got).toEqual(['appliances/wm-d1/telemetry behind', 'appliances/hub-g1/telemetry own'])
  })

  it('disconnects a revoked device at once and refuses it afterwards', async () => {
    await dynsec.provisionDevice('ref-r1', 'pw-r1-0123456789abcdef')
    const dev = await connected(broker.url, 'ref-r1', 'pw-r1-0123456789abcdef')
    const closed = closedOnce(dev)
    await dynsec.revokeDevice('ref-r1')
    await closed
    dev.end(true)
    const again = await connect(broker.url, 'ref-r1', 'pw-r1-0123456789abcdef')
    again.client.end(true)
    expect(again.error?.message).toMatch(/Not authorized|Bad username or password/)
    await dynsec.revokeDevice('ref-r1')
  })

  it('after a rotation, disconnects the old session, refuses the old password and accepts the new', async () => {
    await dynsec.provisionDevice('ref-o1', 'pw-o1-old-0123456789ab')
    const dev = await connected(broker.url, 'ref-o1', 'pw-o1-old-0123456789ab')
    const closed = closedOnce(dev)
    await dynsec.rotateDevice('ref-o1', 'pw-o1-new-0123456789ab')
    await closed
    dev.end(true)
    const old = await connect(broker.url, 'ref-o1', 'pw-o1-old-0123456789ab')
    old.client.end(true)
    expect(old.error?.message).toMatch(/Not authorized|Bad username or password/)
    const fresh = await connected(broker.url, 'ref-o1', 'pw-o1-new-0123456789ab')
    fresh.end(true)
  })

  it('re-provisioning an existing device replaces its password (recovery after a half-done provisioning)', async () => {
    await dynsec.provisionDevice('ref-p1', 'pw-p1-first-0123456789')
    await dynsec.provisionDevice('ref-p1', 'pw-p1-second-012345678')
    const old = await connect(broker.url, 'ref-p1', 'pw-p1-first-0123456789')
    old.client.end(true)
    expect(old.error).not.toBeNull()
    const fresh = await connected(broker.url, 'ref-p1', 'pw-p1-second-012345678')
    fresh.end(true)
  })
})

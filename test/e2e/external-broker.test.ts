/**
 * Issue 4, "Beyond one broker": `forewarn start --broker mqtt://…` against Mosquitto from Debian
 * with its dynamic-security plugin. Devices are provisioned through the API (which puts their
 * credentials and ACL into Mosquitto), a fleet publishes through Mosquitto, and every reading
 * reaches ingest exactly once; a device cannot speak for another; revoke and rotate through the
 * API take effect on Mosquitto; warnings go out on the external broker.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { externalBrokerConfigFromEnv, withBrokerProvisioning } from '../../cli/external-broker.ts'
import { openConfiguredStore } from '../../api/store/open.ts'
import type { MosquittoDynsec } from '../../broker/mosquitto.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { topics } from '../../domain/index.ts'
import { createSimAppliance } from '../../simulators/appliance.ts'
import { runFleet } from '../../simulators/fleet.ts'
import { describeService } from '../services/availability.ts'
import { startMosquitto, type MosquittoService } from '../services/mosquitto.ts'
import { apiCall, provision, waitFor, type Provisioned } from './helpers.ts'

const ADMIN_KEY = 'e2e-external-admin-key-0123456789'
const DYNSEC = { adminUsername: 'dynsec-admin', adminPassword: 'dynsec-admin-secret-0123456789' }
const SERVICE = { username: 'forewarn-svc', password: 'forewarn-svc-secret-0123456789' }
const READINGS_PER_DEVICE = 240

function connect(url: string, username: string, password: string, clientId = username): Promise<{ client: MqttClient; error: Error | null }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { clientId, username, password, reconnectPeriod: 0, clean: true, protocolVersion: 4 })
    client.once('connect', () => resolve({ client, error: null }))
    client.once('error', (error) => resolve({ client, error }))
  })
}

/** One valid telemetry message for a device of `m.type`, stamped now. */
function reading(m: Provisioned, seq: number, boot: number): string {
  const r = createSimAppliance({ deviceId: m.deviceId, type: m.type, seed: 7, startMs: Date.now() }).next()
  return JSON.stringify({ v: 1, boot, ts: Date.now(), seq, metrics: r.metrics })
}

describe('external broker configuration', () => {
  const url = 'mqtt://127.0.0.1:1883'
  const full = { FOREWARN_BROKER_USERNAME: 'svc', FOREWARN_BROKER_PASSWORD: 'pw', FOREWARN_DYNSEC_USERNAME: 'adm', FOREWARN_DYNSEC_PASSWORD: 'apw' }

  it('needs the service account, and the dynsec admin unless provisioning is off', () => {
    expect(externalBrokerConfigFromEnv(url, full)).toEqual({
      url, username: 'svc', password: 'pw', clientId: 'forewarn-pipeline', dynsec: { username: 'adm', password: 'apw' }, connectTimeoutMs: 15_000,
    })
    for (const drop of Object.keys(full)) {
      const env: Record<string, string> = { ...full }
      delete env[drop]
      expect(() => externalBrokerConfigFromEnv(url, env)).toThrow(expect.objectContaining({ code: 'FOREWARN_ERR_CONFIG', message: expect.stringContaining(drop) }))
    }
    expect(externalBrokerConfigFromEnv(url, { FOREWARN_BROKER_USERNAME: 'svc', FOREWARN_BROKER_PASSWORD: 'pw', FOREWARN_BROKER_PROVISIONING: 'none' }).dynsec).toBeNull()
    expect(() => externalBrokerConfigFromEnv(url, { ...full, FOREWARN_BROKER_PROVISIONING: 'emqx' })).toThrow(expect.objectContaining({ code: 'FOREWARN_ERR_CONFIG' }))
  })

  it('fails start-up before opening anything', async () => {
    const dataDir = join(tmpdir(), `forewarn-external-never-${process.pid}`)
    const config = loadStartConfig({ dataDir, apiPort: 0, simulate: 0, broker: url }, {})
    await expect(startForewarn(config, pino({ level: 'silent' }), {})).rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFIG' })
    expect(existsSync(dataDir)).toBe(false)
  })
})

describe('provisioning through the store proxy', () => {
  const newDevice = { type: 'refrigerator' as const, model: 'RF-200', serial: 'P-1', region: 'north', installDate: '2025-01-15', warranty: { standardEnd: '2028-01-15', extended: [] } }

  it('writes the store first, tells the pipeline, and names the retry when the broker fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-provisioning-'))
    const store = await openConfiguredStore({ databaseUrl: null, dataDir: dir, deliveryAdapters: [] })
    try {
      const calls: string[] = []
      let fail = true
      const fake = {
        provisionDevice: async (id: string) => {
          calls.push(`provision ${id}`)
          if (fail) throw new Error('broker down')
        },
        revokeDevice: async (id: string) => {
          calls.push(`revoke ${id}`)
        },
      } as unknown as MosquittoDynsec
      const remembered: string[] = []
      const proxied = withBrokerProvisioning(store, fake, { remember: (d) => remembered.push(`${d.id}:${String(d.revoked)}`) })
      const err = await proxied.createDevice(newDevice).then(() => null, (e: unknown) => e)
      expect(err).toMatchObject({ code: 'FOREWARN_ERR_BROKER', retriable: true })
      expect((err as Error).message).toMatch(/rotate its credentials to retry/)
      const [device] = (await store.listDevices({ limit: 10 })).items
      expect(device).toBeDefined()
      const id = device!.id
      expect(remembered).toEqual([`${id}:false`])
      fail = false
      const rotated = await proxied.rotateCredentials(id)
      expect(rotated.username).toBe(id)
      await proxied.revokeDevice(id)
      expect(calls).toEqual([`provision ${id}`, `provision ${id}`, `revoke ${id}`])
      expect(remembered).toEqual([`${id}:false`, `${id}:true`])
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describeService('mosquitto', 'forewarn start --broker: the pipeline against Mosquitto with dynamic security', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-external-'))
  let mosquitto: MosquittoService
  let run: Running | undefined
  let members: Provisioned[] = []
  const env = {
    FOREWARN_ADMIN_KEY: ADMIN_KEY, FOREWARN_HEALTH_FLUSH_MS: '100', FOREWARN_CHECKPOINT_MS: '200',
    FOREWARN_BROKER_USERNAME: SERVICE.username, FOREWARN_BROKER_PASSWORD: SERVICE.password,
    FOREWARN_DYNSEC_USERNAME: DYNSEC.adminUsername, FOREWARN_DYNSEC_PASSWORD: DYNSEC.adminPassword,
  }
  beforeAll(async () => {
    // Mosquitto's default keeps only 1000 queued messages per session and drops the rest, PUBACKed
    // to the device (docs/external-broker.md): the pipeline's session must hold more.
    mosquitto = await startMosquitto({ dynsec: DYNSEC, extraConfig: ['max_queued_messages 100000'] })
  })
  afterAll(async () => {
    await run?.stop()
    await mosquitto?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('carries every reading of provisioned devices through Mosquitto into ingest exactly once, and nobody can spoof', async () => {
    const config = loadStartConfig({ dataDir, apiPort: 0, simulate: 0, broker: mosquitto.url }, env)
    run = await startForewarn(config, pino({ level: 'silent' }), env)
    expect(run.broker).toBeNull()
    expect(run.mqttUrl).toBe(mosquitto.url)
    members = await provision(run.apiUrl, ADMIN_KEY, ['refrigerator', 'air_conditioner', 'washing_machine', 'water_heater'], 'EXT')

    const fleet = runFleet({
      brokerUrl: mosquitto.url, members, startMs: Date.now() - 2 * 86_400_000,
      readingsPerDevice: READINGS_PER_DEVICE, intervalMs: 5, batchSize: 12, boot: 1,
    })
    const summary = await fleet.done
    expect(summary.failed).toBe(0)
    expect(summary.published).toBe(members.length * READINGS_PER_DEVICE)
    expect(Object.values(summary.lastSeq)).toEqual(members.map(() => READINGS_PER_DEVICE - 1))
    const r = run
    await waitFor('every reading in ingest', async () => (r.ingest.stats().accepted >= summary.published ? true : undefined), 30_000, 50)
    expect(r.ingest.stats().accepted).toBe(summary.published)
    expect(r.ingest.stats().duplicates).toBe(0)
    await waitFor('every reading processed', async () => (r.stats().readings >= summary.published ? true : undefined), 30_000, 50)
    expect(r.stats().readings).toBe(summary.published)

    // Device 1 publishes a well-formed reading on device 0's topic, then one of its own. Mosquitto
    // drops the first (MQTT 3.1.1 has no negative PUBACK, so the device still gets its PUBACK);
    // the second arrives after it would have, so counting once it is in is enough.
    const [victim, spoofer] = members as [Provisioned, Provisioned]
    const s = await connect(mosquitto.url, spoofer.username, spoofer.password)
    expect(s.error).toBeNull()
    await s.client.publishAsync(topics.telemetry(victim.deviceId), reading(victim, 10_000, 2), { qos: 1 })
    await s.client.publishAsync(topics.telemetry(spoofer.deviceId), reading(spoofer, 10_000, 2), { qos: 1 })
    await waitFor('the spoofer\'s own reading', async () => (r.ingest.stats().accepted > summary.published ? true : undefined), 10_000, 50)
    await new Promise((res) => setTimeout(res, 300))
    expect(r.ingest.stats().accepted).toBe(summary.published + 1)
    // Nor can it borrow the victim's client id with its own credentials.
    const borrowed = await connect(mosquitto.url, spoofer.username, spoofer.password, victim.deviceId)
    borrowed.client.end(true)
    expect(borrowed.error?.message).toMatch(/Not authorized|Bad username or password/)

    // Warnings go out on the external broker under the service account.
    const watcher = await connect(mosquitto.url, SERVICE.username, SERVICE.password, 'e2e-watcher')
    expect(watcher.error).toBeNull()
    const warnings: string[] = []
    watcher.client.on('message', (t) => warnings.push(t))
    await watcher.client.subscribeAsync('forewarn/warnings/+', { qos: 1 })
    await r.external?.publish(topics.warnings(victim.deviceId), '{}')
    await waitFor('the warning on Mosquitto', async () => (warnings.length > 0 ? true : undefined), 5_000, 50)
    expect(warnings).toEqual([topics.warnings(victim.deviceId)])
    watcher.client.end(true)

    // Revoke through the API: Mosquitto drops the device's connection and refuses it afterwards.
    const closed = new Promise<void>((res) => s.client.once('close', () => res()))
    expect((await apiCall(r.apiUrl, ADMIN_KEY, `/devices/${spoofer.deviceId}/revoke`, { method: 'POST', body: '{}' })).status).toBe(200)
    await closed
    s.client.end(true)
    const again = await connect(mosquitto.url, spoofer.username, spoofer.password)
    again.client.end(true)
    expect(again.error?.message).toMatch(/Not authorized|Bad username or password/)

    // Rotate through the API: the connection made with the old password is dropped, the old
    // password is refused, the new one accepted.
    const before = await connect(mosquitto.url, victim.username, victim.password)
    expect(before.error).toBeNull()
    const dropped = new Promise<void>((res) => before.client.once('close', () => res()))
    const rotated = await apiCall<{ username: string; password: string }>(r.apiUrl, ADMIN_KEY, `/devices/${victim.deviceId}/credentials`, { method: 'POST', body: '{}' })
    expect(rotated.status).toBe(200)
    await dropped
    before.client.end(true)
    const old = await connect(mosquitto.url, victim.username, victim.password)
    old.client.end(true)
    expect(old.error?.message).toMatch(/Not authorized|Bad username or password/)
    const fresh = await connect(mosquitto.url, rotated.body.username, rotated.body.password)
    fresh.client.end(true)
    expect(fresh.error).toBeNull()
  }, 120_000)

  it('keeps what devices publish while Forewarn is down: the persistent session delivers it once after a restart', async () => {
    const [, , survivor, halfRevoked] = members as [Provisioned, Provisioned, Provisioned, Provisioned]
    // A revocation that reached the store but not the broker (as if the broker call had failed):
    // Mosquitto still lets the device in, until the restart finishes the revocation.
    await run?.store.revokeDevice(halfRevoked.deviceId)
    const before = await connect(mosquitto.url, halfRevoked.username, halfRevoked.password)
    before.client.end(true)
    expect(before.error).toBeNull()
    await run?.stop()
    run = undefined
    // More messages than Mosquitto queues for an absent session by default (1000).
    const whileDown = runFleet({
      brokerUrl: mosquitto.url, members: [survivor], startMs: Date.now() - 86_400_000,
      readingsPerDevice: 1200, intervalMs: 1, batchSize: 1, maxInflightPerDevice: 32, boot: 3,
    })
    const summary = await whileDown.done
    expect(summary.failed).toBe(0)
    expect(summary.acknowledged).toBe(1200)
    run = await startForewarn(loadStartConfig({ dataDir, apiPort: 0, simulate: 0, broker: mosquitto.url }, env), pino({ level: 'silent' }), env)
    const r = run
    await waitFor('the queued readings', async () => (r.ingest.stats().accepted >= summary.published ? true : undefined), 30_000, 50)
    await new Promise((res) => setTimeout(res, 300))
    expect(r.ingest.stats().accepted).toBe(summary.published)
    expect(r.ingest.stats().duplicates).toBe(0)
    const revoked = await connect(mosquitto.url, halfRevoked.username, halfRevoked.password)
    revoked.client.end(true)
    expect(revoked.error?.message).toMatch(/Not authorized|Bad username or password/)
  }, 120_000)
})

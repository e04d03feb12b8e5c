/**
 * Issue 4: a gateway publishes only for the devices registered behind it; a change to its device
 * set or a revocation closes its connection; `forewarn simulate --gateways` runs a fleet over
 * gateway connections. Real MQTT against a running Forewarn (embedded broker).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { runSimulate } from '../../cli/simulate.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { topics } from '../../domain/index.ts'
import { describeService } from '../services/availability.ts'
import { startMosquitto, type MosquittoService } from '../services/mosquitto.ts'
import { apiCall, connectOnce, waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-gateway-admin-key-0123456789'

interface Creds { username: string; password: string }

const connect = (url: string, c: Creds) => connectOnce(url, { clientId: c.username, username: c.username, password: c.password })

const closed = (client: mqtt.MqttClient): Promise<void> => new Promise((r) => (client.connected ? client.once('close', () => r()) : r()))
const reading = (seq: number) => JSON.stringify({ v: 1, boot: 1, ts: Date.now() - 1000, seq, metrics: { cabinet_temp_c: 4 } })

describe('gateways over MQTT', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-gateway-'))
  let run: Running
  beforeAll(async () => {
    run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0 }, { FOREWARN_ADMIN_KEY: ADMIN_KEY }), pino({ level: 'silent' }))
  })
  afterAll(async () => {
    await run?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const api = <T>(path: string, body?: unknown) =>
    apiCall<T>(run.apiUrl, ADMIN_KEY, path, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })
  const fridge = (serial: string, gatewayId?: string) => ({
    type: 'refrigerator', model: 'FR-450X', serial, region: 'north', installDate: '2025-01-15', warranty: { standardEnd: '2028-01-15', extended: [] },
    ...(gatewayId === undefined ? {} : { gatewayId }),
  })
  const device = async (serial: string, gatewayId?: string): Promise<string> => {
    const r = await api<{ device: { id: string } }>('/devices', fridge(serial, gatewayId))
    expect(r.status).toBe(201)
    return r.body.device.id
  }
  const accepted = () => run.ingest.stats().accepted
  const waitAccepted = (n: number) => waitFor(`${n} readings accepted`, async () => (accepted() >= n ? true : undefined), 10_000, 20)

  it('publishes for its devices only; a new device behind it and its revocation close its connection', async () => {
    const gw = await api<{ gateway: { id: string }; credentials: Creds }>('/gateways', { label: 'hub in flat 3', region: 'north' })
    expect(gw.status).toBe(201)
    const gatewayId = gw.body.gateway.id
    const behind = [await device('GW-0', gatewayId), await device('GW-1', gatewayId), await device('GW-2', gatewayId)]
    const other = await device('ALONE')
    expect((await api<{ deviceIds: string[] }>(`/gateways/${gatewayId}`)).body.deviceIds).toEqual([...behind].sort())

    const first = await connect(run.mqttUrl, gw.body.credentials)
    expect(first.error).toBeNull()
    const before = accepted()
    for (const id of behind) await first.client.publishAsync(topics.telemetry(id), reading(0), { qos: 1 })
    await waitAccepted(before + 3)
    expect(accepted()).toBe(before + 3)

    // The ACL closes the connection without a PUBACK: the reading never reaches ingest.
    const denied = run.broker!.counters().aclDeniedPublish
    const rejected = run.ingest.stats().rejectedTotal
    const gone = closed(first.client)
    first.client.publish(topics.telemetry(other), reading(0), { qos: 1 })
    await gone
    first.client.end(true)
    expect(run.broker!.counters().aclDeniedPublish).toBe(denied + 1)
    expect(accepted()).toBe(before + 3)
    expect(run.ingest.stats().rejectedTotal).toBe(rejected)

    // A device provisioned behind a connected gateway: the gateway is disconnected and comes back with it.
    const second = await connect(run.mqttUrl, gw.body.credentials)
    expect(second.error).toBeNull()
    const secondGone = closed(second.client)
    const late = await device('GW-3', gatewayId)
    await secondGone
    second.client.end(true)
    const third = await connect(run.mqttUrl, gw.body.credentials)
    expect(third.error).toBeNull()
    await third.client.publishAsync(topics.telemetry(late), reading(0), { qos: 1 })
    await waitAccepted(before + 4)
    expect(accepted()).toBe(before + 4)

    // Revoked: disconnected at once, refused afterwards; its devices keep their own credentials.
    const thirdGone = closed(third.client)
    expect((await api<{ revoked: boolean }>(`/gateways/${gatewayId}/revoke`, {})).body.revoked).toBe(true)
    await thirdGone
    third.client.end(true)
    const again = await connect(run.mqttUrl, gw.body.credentials)
    expect(again.error?.message).toMatch(/Bad username or password|Not authorized/)
    again.client.end(true)
    expect(accepted()).toBe(before + 4)
  }, 60_000)

  it('revoking a device behind a connected gateway closes the gateway, which no longer speaks for it', async () => {
    const gw = await api<{ gateway: { id: string }; credentials: Creds }>('/gateways', { label: 'hub' })
    const [kept, dropped] = [await device('R-0', gw.body.gateway.id), await device('R-1', gw.body.gateway.id)]
    const conn = await connect(run.mqttUrl, gw.body.credentials)
    expect(conn.error).toBeNull()
    const gone = closed(conn.client)
    expect((await api<{ revoked: boolean }>(`/devices/${dropped}/revoke`, {})).body.revoked).toBe(true)
    await gone
    conn.client.end(true)
    expect((await api<{ deviceIds: string[] }>(`/gateways/${gw.body.gateway.id}`)).body.deviceIds).toEqual([kept])

    const again = await connect(run.mqttUrl, gw.body.credentials)
    expect(again.error).toBeNull()
    const before = accepted()
    const denied = run.broker!.counters().aclDeniedPublish
    await again.client.publishAsync(topics.telemetry(kept), reading(0), { qos: 1 })
    await waitAccepted(before + 1)
    const againGone = closed(again.client)
    again.client.publish(topics.telemetry(dropped), reading(0), { qos: 1 })
    await againGone
    again.client.end(true)
    expect(run.broker!.counters().aclDeniedPublish).toBe(denied + 1)
    expect(accepted()).toBe(before + 1)
  }, 30_000)

  it('rotating a gateway\'s password closes its connection; only the new password connects', async () => {
    const gw = await api<{ gateway: { id: string }; credentials: Creds }>('/gateways', { label: 'hub' })
    const conn = await connect(run.mqttUrl, gw.body.credentials)
    expect(conn.error).toBeNull()
    const gone = closed(conn.client)
    const rotated = await api<Creds>(`/gateways/${gw.body.gateway.id}/credentials`, {})
    expect(rotated.status).toBe(200)
    await gone
    conn.client.end(true)
    const withOld = await connect(run.mqttUrl, gw.body.credentials)
    expect(withOld.error?.message).toMatch(/Bad username or password|Not authorized/)
    withOld.client.end(true)
    const withNew = await connect(run.mqttUrl, rotated.body)
    expect(withNew.error).toBeNull()
    withNew.client.end(true)
  }, 30_000)

  it('forewarn simulate --gateways 2 --devices 6 --readings 5 --json: every reading acknowledged, over two connections', async () => {
    const before = accepted()
    const clientIds = new Set<string>()
    const onClient = (c: { id: string }) => clientIds.add(c.id)
    run.broker!.aedes.on('clientReady', onClient)
    const stdout = new PassThrough()
    let out = ''
    stdout.on('data', (c) => (out += c))
    const s = await runSimulate({
      broker: run.mqttUrl, api: run.apiUrl, apiKey: ADMIN_KEY, devices: 6, gateways: 2, readings: 5, intervalMs: 5, json: true,
      handleSignals: false, stdout, stderr: new PassThrough(),
    })
    const summary = JSON.parse(out.trim().split('\n').at(-1)!) as { devices: number; published: number; acknowledged: number; failed: number; lastSeq: Record<string, number> }
    expect(summary).toMatchObject({ devices: 6, published: 30, acknowledged: 30, failed: 0 })
    expect(Object.values(summary.lastSeq)).toEqual([4, 4, 4, 4, 4, 4])
    expect(s.acknowledged).toBe(30)
    run.broker!.aedes.off('clientReady', onClient)
    await waitAccepted(before + 30)
    expect(accepted()).toBe(before + 30)

    const gateways = (await api<{ items: { id: string; label: string }[] }>('/gateways?limit=100')).body.items.filter((g) => g.label.startsWith('simulated hub'))
    expect(gateways.length).toBe(2)
    const behind = await Promise.all(gateways.map(async (g) => (await api<{ deviceIds: string[] }>(`/gateways/${g.id}`)).body.deviceIds))
    expect(behind.map((ids) => ids.length)).toEqual([3, 3])
    expect(new Set(behind.flat())).toEqual(new Set(Object.keys(summary.lastSeq)))
    // One MQTT connection per gateway, none of the devices' own.
    const simulated = new Set([...gateways.map((g) => g.id), ...behind.flat()])
    expect(new Set([...clientIds].filter((id) => simulated.has(id)))).toEqual(new Set(gateways.map((g) => g.id)))
  }, 60_000)
})

describeService('mosquitto', 'gateways on an external Mosquitto (dynamic security)', () => {
  const DYNSEC = { adminUsername: 'dynsec-admin', adminPassword: 'dynsec-admin-secret-0123456789' }
  const env = {
    FOREWARN_ADMIN_KEY: ADMIN_KEY, FOREWARN_BROKER_USERNAME: 'forewarn-svc', FOREWARN_BROKER_PASSWORD: 'forewarn-svc-secret-0123456789',
    FOREWARN_DYNSEC_USERNAME: DYNSEC.adminUsername, FOREWARN_DYNSEC_PASSWORD: DYNSEC.adminPassword,
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-gateway-ext-'))
  let mosquitto: MosquittoService
  let run: Running | undefined
  beforeAll(async () => {
    mosquitto = await startMosquitto({ dynsec: DYNSEC })
  })
  afterAll(async () => {
    await run?.stop()
    await mosquitto?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('provisions the gateway on Mosquitto: it publishes for its devices only; revoked, it is disconnected and refused', async () => {
    run = await startForewarn(loadStartConfig({ dataDir, apiPort: 0, simulate: 0, broker: mosquitto.url }, env), pino({ level: 'silent' }), env)
    const r = run
    const api = <T>(path: string, body: unknown) => apiCall<T>(r.apiUrl, ADMIN_KEY, path, { method: 'POST', body: JSON.stringify(body) })
    const fridge = (serial: string, gatewayId?: string) => ({
      type: 'refrigerator', model: 'FR-450X', serial, region: 'north', installDate: '2025-01-15', warranty: { standardEnd: '2028-01-15', extended: [] },
      ...(gatewayId === undefined ? {} : { gatewayId }),
    })
    const gw = await api<{ gateway: { id: string }; credentials: Creds }>('/gateways', { label: 'hub' })
    expect(gw.status).toBe(201)
    const gatewayId = gw.body.gateway.id
    const conn = await connect(r.mqttUrl, gw.body.credentials)
    expect(conn.error).toBeNull()
    // Provisioned while the gateway is connected: Mosquitto applies the role change live.
    const behind = [(await api<{ device: { id: string } }>('/devices', fridge('X-0', gatewayId))).body.device.id,
      (await api<{ device: { id: string } }>('/devices', fridge('X-1', gatewayId))).body.device.id]
    const other = (await api<{ device: { id: string } }>('/devices', fridge('X-2'))).body.device.id
    const before = r.ingest.stats().accepted
    // Mosquitto drops a denied publish silently (it still acknowledges it at MQTT 3.1.1); the
    // readings after it arrive, in order, on the same connection.
    await conn.client.publishAsync(topics.telemetry(other), reading(0), { qos: 1 })
    for (const id of behind) await conn.client.publishAsync(topics.telemetry(id), reading(0), { qos: 1 })
    await waitFor('the gateway\'s readings', async () => (r.ingest.stats().accepted >= before + 2 ? true : undefined), 10_000, 20)
    expect(r.ingest.stats().accepted).toBe(before + 2)

    const gone = closed(conn.client)
    expect((await api<{ revoked: boolean }>(`/gateways/${gatewayId}/revoke`, {})).body.revoked).toBe(true)
    await gone
    conn.client.end(true)
    const again = await connect(r.mqttUrl, gw.body.credentials)
    expect(again.error?.message).toMatch(/Bad username or password|Not authorized/)
    again.client.end(true)
  }, 60_000)
})

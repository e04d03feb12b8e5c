/**
 * Issue 13 end to end: a machine type that exists only as a catalogue file (a circulation pump),
 * a device of it provisioned through the API, and a real rig run (SKAB valve1) published over MQTT
 * as telemetry batches with the run's own event-time spacing, into `forewarn start --catalogue`
 * with a real InfluxDB. Pins: the warning starts inside the labelled fault and not before it; one
 * ticket names the pump's component and its parts; every reading is stored; a bad catalogue file
 * stops start-up naming file, field and why.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { deviceDashboard } from '../../dashboards/device.ts'
import { ErrorCode, ForewarnError, installCatalogue, topics } from '../../domain/index.ts'
import { describeService } from '../services/availability.ts'
import { startInfluxDB, type InfluxDBService } from '../services/influxdb.ts'
import { describeWithSkab, pumpFile, pumpSpec, skabRun } from '../fixtures/skab.ts'
import { apiCall, offlineWill, waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-catalogue-admin-key-0123456789'
const catalogueDir = join(import.meta.dirname, '../fixtures/catalogue')
/** One valve1 run: the fault (valve closed part way) starts about 570 s in. */
const RUN = 8
const BATCH = 60

interface Ticket { id: string; deviceId: string; fault: { code: string; component: string; componentName: string }; parts: { partNumber: string }[]; evidence: { feature: string; unit?: string }[] }
interface Warning { id: string; faultCode: string; component: string; eventTime: number; state: string }
interface Page<T> { items: T[]; next: string | null }

describeWithSkab('SKAB pump rig', () => describeService('influxdb', 'a data-defined machine type watched live (SKAB pump rig over MQTT)', () => {
  let influx: InfluxDBService
  let run: Running | undefined
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-catalogue-e2e-'))
  beforeAll(async () => {
    influx = await startInfluxDB({ database: 'forewarn' })
  })
  afterAll(async () => {
    await run?.stop()
    await influx?.stop()
    installCatalogue()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('provisions a pump, warns inside the fault, opens a ticket with the pump\'s component and parts, stores every reading', async () => {
    const env = { FOREWARN_ADMIN_KEY: ADMIN_KEY, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: influx.database, FOREWARN_HEALTH_FLUSH_MS: '100' }
    run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0, catalogue: catalogueDir }, env), pino({ level: 'silent' }), env)
    const api = <T>(path: string, init: RequestInit = {}) => apiCall<T>(run!.apiUrl, ADMIN_KEY, path, init)

    const cat = await api<{ items: { type: string }[] }>('/catalogue')
    expect(cat.body.items.map((t) => t.type)).toEqual(['refrigerator', 'air_conditioner', 'washing_machine', 'water_heater', 'circulation_pump'])
    const created = await api<{ device: { id: string; type: string }; credentials: { username: string; password: string } }>('/devices', {
      method: 'POST',
      body: JSON.stringify({ type: 'circulation_pump', model: 'SKAB rig', serial: 'RIG-1', region: 'lab', installDate: '2025-01-15', warranty: { standardEnd: '2030-01-15', extended: [] } }),
    })
    expect(created.status).toBe(201)
    const id = created.body.device.id
    expect(id).toMatch(/^circul-/)
    const refused = await api<{ error: { code: string } }>('/devices', {
      method: 'POST',
      body: JSON.stringify({ type: 'steam_turbine', model: 'X', serial: 'T-1', region: 'lab', installDate: '2025-01-15', warranty: { standardEnd: '2030-01-15', extended: [] } }),
    })
    expect([refused.status, refused.body.error.code]).toEqual([400, ErrorCode.BAD_PAYLOAD])

    // The run's own event times, moved as a whole to end a minute ago (the broker refuses readings older than 400 days).
    const { readings, onset, end } = skabRun(RUN, id)
    const shift = Date.now() - 60_000 - readings.at(-1)!.ts
    const client = await mqtt.connectAsync(run.mqttUrl, { clientId: id, username: created.body.credentials.username, password: created.body.credentials.password, will: offlineWill(id), reconnectPeriod: 0 })
    try {
      for (let i = 0; i < readings.length; i += BATCH) {
        const batch = readings.slice(i, i + BATCH).map((r) => ({ ts: r.ts + shift, seq: r.seq, metrics: r.metrics }))
        await client.publishAsync(topics.telemetry(id), JSON.stringify({ v: 1, boot: 1, readings: batch }), { qos: 1 })
      }
    } finally {
      await client.endAsync()
    }

    const ticket = await waitFor('a ticket for the pump', async () => {
      const t = await api<Page<Ticket>>(`/tickets?deviceId=${id}`)
      return t.body.items[0]
    }, 30_000)
    const warnings = (await api<Page<Warning>>(`/warnings?deviceId=${id}`)).body.items
    expect(warnings).toHaveLength(1)
    const w = warnings[0]!
    expect(w.eventTime).toBeGreaterThanOrEqual(readings[onset]!.ts + shift)
    expect(w.eventTime).toBeLessThanOrEqual(readings[end]!.ts + shift)
    expect([w.faultCode, w.component]).toEqual(['ANOMALY', 'pump'])
    expect([ticket.fault.code, ticket.fault.component, ticket.fault.componentName]).toEqual(['ANOMALY', 'pump', 'Pump and inlet valve'])
    expect(ticket.parts.map((p) => p.partNumber)).toEqual(['CP-PU-1001', 'CP-VA-1002'])
    expect(ticket.evidence[0]).toMatchObject({ feature: 'flow_l_min', unit: 'L/min' })

    const health = await waitFor('the health record', async () => {
      const h = await api<{ health: { warmingUp: boolean; lastEventTime: number } | null }>(`/devices/${id}`)
      return h.body.health?.lastEventTime === readings.at(-1)!.ts + shift ? h.body.health : undefined
    }, 10_000)
    expect(health.warmingUp).toBe(false)

    // Every reading in InfluxDB, under the catalogue's metric names.
    const count = async () => Number((await influx.query(`SELECT count(flow_l_min) AS n FROM telemetry WHERE device_id = '${id}'`))[0]?.n ?? 0)
    await waitFor('every reading in InfluxDB', async () => ((await count()) >= readings.length ? true : undefined), 30_000, 500)
    expect(await count()).toBe(readings.length)

    // The technician replaced the inlet valve: the pump's run becomes the type's first failure signature.
    const model = async () => (await api<{ watchedBy: string; reference: unknown; failure: { failures: number; runs: { deviceId: string; ticketId: string }[] } | null }>('/catalogue/circulation_pump/model')).body
    expect(await model()).toMatchObject({ watchedBy: 'engine', reference: null, failure: null })
    const resolved = await api<{ state: string }>(`/tickets/${ticket.id}/transitions`, { method: 'POST', body: JSON.stringify({ state: 'resolved', outcome: 'part_replaced', partNumber: 'CP-VA-1002' }) })
    expect(resolved.status).toBe(200)
    const learnt = await waitFor('the failure signature', async () => ((await model()).failure ?? undefined), 10_000)
    expect(learnt).toMatchObject({ failures: 1, runs: [{ deviceId: id, ticketId: ticket.id }] })

    // The device dashboard has a row of the pump's own metrics, generated from its catalogue file.
    const dash = JSON.stringify(deviceDashboard({ ds: { type: 'influxdb', uid: 'x' } }))
    expect(dash).toContain('Circulation pump metrics')
    expect(dash).toContain('flow_l_min')
  }, 120_000)
}))

describe('a device whose type file was taken away', () => {
  it('has its readings refused as from an unknown device, and Forewarn runs on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-removed-type-'))
    const env = { FOREWARN_ADMIN_KEY: ADMIN_KEY }
    const start = (catalogue?: string) => startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0, ...(catalogue ? { catalogue } : {}) }, env), pino({ level: 'silent' }), env)
    let run = await start(catalogueDir)
    try {
      const created = await apiCall<{ device: { id: string }; credentials: { username: string; password: string } }>(run.apiUrl, ADMIN_KEY, '/devices', {
        method: 'POST',
        body: JSON.stringify({ type: 'circulation_pump', model: 'SKAB rig', serial: 'RIG-2', region: 'lab', installDate: '2025-01-15', warranty: { standardEnd: '2030-01-15', extended: [] } }),
      })
      const id = created.body.device.id
      await run.stop()
      run = await start()
      const client = await mqtt.connectAsync(run.mqttUrl, { clientId: id, username: id, password: created.body.credentials.password, will: offlineWill(id), reconnectPeriod: 0 })
      const metrics = Object.fromEntries(pumpSpec().metrics.map((m) => [m.name, 1]))
      await client.publishAsync(topics.telemetry(id), JSON.stringify({ v: 1, boot: 1, ts: Date.now() - 1000, seq: 0, metrics }), { qos: 1 })
      await client.endAsync()
      const rejects = await waitFor('the refused reading', async () => {
        const r = await apiCall<{ items: { deviceId: string; reason: string }[] }>(run.apiUrl, ADMIN_KEY, '/ingest/rejects')
        return r.body.items.length > 0 ? r.body.items : undefined
      }, 10_000)
      // The reading (and the device's status messages) are dead-lettered, nothing else.
      expect([...new Set(rejects.map((x) => `${x.deviceId} ${x.reason}`))]).toEqual([`${id} unknown_device`])
      expect((await fetch(`${run.apiUrl}/healthz`)).ok).toBe(true)
    } finally {
      await run.stop()
      installCatalogue()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})

describe('a bad catalogue file', () => {
  it('stops start-up with FOREWARN_ERR_CONFIG naming the file, the field and why, and starts nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-bad-catalogue-'))
    const dataDir = join(dir, 'data')
    try {
      const bad = JSON.parse(readFileSync(pumpFile, 'utf8')) as { metrics: { unit: string }[] }
      delete (bad.metrics[2] as Partial<{ unit: string }>).unit
      writeFileSync(join(dir, 'pump.json'), JSON.stringify(bad))
      const config = loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0 }, { FOREWARN_CATALOGUE_DIR: dir })
      let err: unknown
      try { await startForewarn(config, pino({ level: 'silent' })) } catch (e) { err = e }
      expect(err).toBeInstanceOf(ForewarnError)
      expect((err as ForewarnError).code).toBe(ErrorCode.CONFIG)
      expect((err as ForewarnError).message).toContain(`${join(dir, 'pump.json')}: /metrics/2/unit: required field is missing`)
      expect(existsSync(dataDir)).toBe(false)
    } finally {
      installCatalogue()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/**
 * A short simulated run through the real pipeline, writing to a real InfluxDB: Forewarn started
 * as `forewarn start` starts it (INFLUX_API=v1), one appliance per type and model provisioned
 * through the API and run over MQTT in fast event time with injected faults, tickets driven
 * through their lifecycle over the API, and the SLA clock moved on so tickets fall at risk and
 * breach. What the dashboards then show is what Forewarn itself wrote.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { applianceSpec, type ApplianceType } from '../../domain/index.ts'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { startInfluxReporting } from '../../cli/influx-reporting.ts'
import { createInfluxSink } from '../../ingest/sinks/influx.ts'
import { runFleet, type FleetHandle, type FleetMemberSpec } from '../../simulators/fleet.ts'
import type { SimFault } from '../../simulators/appliance.ts'
import type { TicketRecord } from '../../api/store/types.ts'
import { apiCall, waitFor } from '../e2e/helpers.ts'
import type { InfluxDBService } from '../services/influxdb.ts'

/** FOREWARN_TEST_TRACE=1 says how far the run got and when. */
const trace = (what: string): void => {
  if (process.env.FOREWARN_TEST_TRACE) process.stderr.write(`${new Date().toISOString()} ${what}\n`)
}
const ADMIN_KEY = 'dashboards-admin-key-0123456789abcdef'
const DAY = 86_400_000
const DAYS = 12
/**
 * The homes' local time when the run ends. Washing machines are seen only while washing, and
 * when a household washes follows its local hour, so which washes fall between a fault's onset
 * and its failure depends on it: with the homes on UTC, the WM-8 heater fault went unwarned for
 * 11 of 96 quarter-hours of the day and the WM-7 drain fault for one (15:45, a CI failure). The
 * homes' time zone is set so every run ends at 11:30 local, in the middle of 10:00 – 13:15 where
 * every model warns with a remaining-life estimate (sweep: each quarter-hour through the detector
 * offline, the same outcome from 2026-11 to 2027-08).
 */
const LOCAL_END_HOUR = 11.5

export interface RunDevice {
  id: string
  type: ApplianceType
  model: string
}

export interface PipelineRun {
  devices: RunDevice[]
  fromMs: number
  toMs: number
  /** Readings the fleet had acknowledged when the data was in. */
  readings: number
  /** Stops the fleet and Forewarn and removes the data folder. */
  stop(): Promise<void>
}

/**
 * What happens to each appliance. Every model of every type develops a fault the detector warns
 * of (days to failure after the run set the severity), so every model has warnings, remaining
 * life and tickets. Tickets are repaired (or found to be no fault), except one nobody confirms
 * (it breaches) and one acknowledged late in its planning window (at risk). Three more appliances
 * stay healthy, drift to "watch", and go offline.
 */
type Role = 'resolved' | 'breached' | 'at_risk' | 'watch' | 'offline' | 'healthy'
interface Plan { type: ApplianceType; model: number; role: Role; seed: number; fault?: { code: string; component: string; failureAfterEndDays: number }; outcome?: 'part_replaced' | 'repaired' | 'no_fault_found' }
const cmpw = (d: number) => ({ code: 'REF-CMPW', component: 'compressor', failureAfterEndDays: d })
const ofan = (d: number) => ({ code: 'AC-OFAN', component: 'outdoor_fan', failureAfterEndDays: d })
// Washing machines are seen only while washing: their faults are let run to failure before the end.
const heat = { code: 'WM-HEAT', component: 'heating_element', failureAfterEndDays: -1 }
const drain = { code: 'WM-DRAIN', component: 'drain_pump', failureAfterEndDays: -1 }
const elem = (d: number) => ({ code: 'WH-ELEM', component: 'heating_element', failureAfterEndDays: d })
const plan: readonly Plan[] = [
  { type: 'refrigerator', model: 0, role: 'resolved', seed: 101, fault: cmpw(2), outcome: 'part_replaced' },
  { type: 'refrigerator', model: 1, role: 'breached', seed: 102, fault: cmpw(2) },
  { type: 'refrigerator', model: 2, role: 'resolved', seed: 103, fault: cmpw(6), outcome: 'repaired' },
  { type: 'air_conditioner', model: 0, role: 'resolved', seed: 101, fault: ofan(2), outcome: 'repaired' },
  { type: 'air_conditioner', model: 1, role: 'at_risk', seed: 102, fault: ofan(6) },
  { type: 'air_conditioner', model: 2, role: 'resolved', seed: 103, fault: ofan(2), outcome: 'no_fault_found' },
  { type: 'washing_machine', model: 0, role: 'resolved', seed: 104, fault: drain, outcome: 'part_replaced' },
  { type: 'washing_machine', model: 1, role: 'resolved', seed: 125, fault: heat, outcome: 'repaired' },
  { type: 'washing_machine', model: 2, role: 'resolved', seed: 124, fault: heat, outcome: 'part_replaced' },
  { type: 'water_heater', model: 0, role: 'resolved', seed: 101, fault: elem(2), outcome: 'part_replaced' },
  { type: 'water_heater', model: 1, role: 'resolved', seed: 102, fault: elem(2), outcome: 'repaired' },
  { type: 'water_heater', model: 2, role: 'resolved', seed: 103, fault: elem(2), outcome: 'part_replaced' },
  { type: 'refrigerator', model: 0, role: 'healthy', seed: 120 },
  { type: 'water_heater', model: 1, role: 'watch', seed: 101, fault: elem(10) },
  { type: 'air_conditioner', model: 0, role: 'offline', seed: 121 },
]

interface Page<T> { items: T[]; next: string | null }

export async function runPipeline(db: InfluxDBService): Promise<PipelineRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-dashboards-'))
  const env = { FOREWARN_ADMIN_KEY: ADMIN_KEY, INFLUX_URL: db.url, INFLUX_API: 'v1', INFLUX_DATABASE: db.database, FOREWARN_HEALTH_FLUSH_MS: '200', FOREWARN_CHECKPOINT_MS: '500' }
  const log = pino({ level: 'silent' })
  const run: Running = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0 }, env), log, env)
  const api = <T>(path: string, init: RequestInit = {}) => apiCall<T>(run.apiUrl, ADMIN_KEY, path, init)
  const fleets: FleetHandle[] = []
  const stop = async (): Promise<void> => {
    for (const f of fleets) await f.stop()
    await run.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    const endMs = Date.now()
    const startMs = endMs - DAYS * DAY
    const utcOffsetMs = LOCAL_END_HOUR * 3_600_000 - (endMs % DAY)
    const devices: RunDevice[] = []
    const members: (FleetMemberSpec & { plan: Plan })[] = []
    for (const [i, p] of plan.entries()) {
      const model = applianceSpec(p.type).models[p.model] as string
      const { status, body } = await api<{ device: { id: string }; credentials: { username: string; password: string } }>('/devices', {
        method: 'POST',
        body: JSON.stringify({ type: p.type, model, serial: `DASH-${i}`, region: i % 2 === 0 ? 'north' : 'south', installDate: '2025-01-15', warranty: { standardEnd: '2028-01-15', extended: [] } }),
      })
      if (status !== 201) throw new Error(`provisioning failed with ${status}: ${JSON.stringify(body)}`)
      devices.push({ id: body.device.id, type: p.type, model })
      const fault: SimFault | undefined = p.fault && { code: p.fault.code, component: p.fault.component, onsetMs: startMs + 3.5 * DAY, failureMs: endMs + p.fault.failureAfterEndDays * DAY }
      members.push({ deviceId: body.device.id, username: body.credentials.username, password: body.credentials.password, type: p.type, seed: p.seed, plan: p, ...(fault ? { fault } : {}) })
    }

    // The appliance that goes offline sends its readings and disconnects; the others catch up to
    // the present and keep reporting, as a live fleet does while someone looks at Grafana.
    const perDevice = DAYS * 1440
    const gone = members.filter((m) => m.plan.role === 'offline')
    const live = members.filter((m) => m.plan.role !== 'offline')
    const goneFleet = runFleet({ brokerUrl: run.mqttUrl, members: gone, startMs, readingsPerDevice: Math.floor(perDevice * 0.9), intervalMs: 5, batchSize: 240, utcOffsetMs })
    const liveFleet = runFleet({ brokerUrl: run.mqttUrl, members: live, startMs, intervalMs: 5, batchSize: 240, utcOffsetMs })
    fleets.push(goneFleet, liveFleet)
    await goneFleet.done
    trace('offline appliance done')
    // Caught up once readings arrive at the live pace (one per device and minute), not the replay pace.
    let before = -1
    await waitFor('the live fleet to catch up with the present', async () => {
      const now = liveFleet.stats().acknowledged
      const caughtUp = now > live.length * perDevice * 0.9 && now - before <= live.length
      before = now
      return caughtUp ? true : undefined
    }, 60_000, 500)
    trace(`caught up: ${before} readings`)

    const ticketOf = async (m: RunDevice): Promise<TicketRecord> => waitFor(`a ticket for ${m.id}`, async () => {
      const { body } = await api<Page<TicketRecord>>(`/tickets?deviceId=${m.id}`)
      return body.items[0]
    }, 20_000)
    const transition = async (t: TicketRecord, state: string, outcome?: string) => {
      const { status, body } = await api<TicketRecord>(`/tickets/${t.id}/transitions`, { method: 'POST', body: JSON.stringify({ state, ...(outcome ? { outcome } : {}) }) })
      if (status !== 200) throw new Error(`ticket ${t.id} → ${state}: ${status} ${JSON.stringify(body)}`)
    }
    let atRisk: TicketRecord | null = null
    const unconfirmed: TicketRecord[] = []
    for (const [i, m] of members.entries()) {
      const { role, outcome } = m.plan
      if (role !== 'resolved' && role !== 'at_risk' && role !== 'breached') continue
      const t = await ticketOf(devices[i] as RunDevice)
      if (role === 'breached') unconfirmed.push(t)
      if (role === 'at_risk') {
        await transition(t, 'acknowledged')
        atRisk = t
      } else if (role === 'resolved') {
        for (const state of ['acknowledged', 'scheduled', 'in_progress']) await transition(t, state)
        await transition(t, 'resolved', outcome)
      }
    }
    trace('tickets moved')
    if (atRisk === null) throw new Error('the plan has no at-risk ticket')

    // The SLA clock moves on to 90 % of the acknowledged ticket's planning window: it is at risk;
    // then past the confirmation deadline of the tickets nobody confirmed: they are breached.
    // (Predicted faults confirm within working hours per tier, so the two moments may lie apart.)
    const anchored = Date.parse(atRisk.sla.anchoredAt)
    const planBy = Date.parse(atRisk.sla.planBy)
    const atRiskMs = planBy - 0.1 * (planBy - anchored)
    const breachMs = Math.max(atRiskMs, ...unconfirmed.map((t) => Date.parse(t.sla.confirmBy) + 60_000))
    const slaNowMs = breachMs
    let skewMs = atRiskMs - Date.now()
    const sink = await createInfluxSink({ api: 'v1', url: db.url, database: db.database, username: null, password: null }, { spoolDir: null, statsIntervalMs: 0 })
    const later = startInfluxReporting({ store: run.store, sink, log, now: () => Date.now() + skewMs })
    await later.sweep()
    skewMs = breachMs - Date.now()
    await later.sweep()
    await later.stop()
    await sink.close()
    trace('SLA swept')

    // The sink writes in the background (a batch a second): wait until every kind of point is in,
    // every resolution included, and the health and ticket series stop growing.
    const resolved = plan.filter((p) => p.role === 'resolved').length
    const flushed: [string, (n: number) => boolean][] = [
      [`SELECT count("lag_ms") FROM "pipeline" WHERE "stage" = 'ingest'`, (n) => n > 0],
      [`SELECT count("write_ms") FROM "pipeline" WHERE "stage" = 'sink'`, (n) => n > 0],
      [`SELECT count("ticket_id") FROM "tickets" WHERE "state" = 'resolved'`, (n) => n === resolved],
      [`SELECT count("ticket_id") FROM "tickets" WHERE "sla_state" = 'at_risk'`, (n) => n > 0],
      [`SELECT count("ticket_id") FROM "tickets" WHERE "sla_state" = 'breached'`, (n) => n > 0],
      [`SELECT count("status") FROM "health" WHERE "status" = 'offline'`, (n) => n > 0],
    ]
    const count = async (q: string): Promise<number> => Number((await db.query(q))[0]?.count ?? 0)
    let last = ''
    await waitFor('the sink to flush every kind of point', async () => {
      for (const [q, ok] of flushed) if (!ok(await count(q))) return undefined
      const now = `${await count('SELECT count("score") FROM "health"')} ${await count('SELECT count("ticket_id") FROM "tickets"')}`
      const stable = now === last
      last = now
      return stable ? true : undefined
    }, 30_000, 1500)
    trace('flushed')
    return { devices, fromMs: startMs - DAY, toMs: slaNowMs + 60_000, readings: liveFleet.stats().acknowledged, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

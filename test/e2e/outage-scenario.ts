/**
 * The scenario of issue 14, shared by the records-store outage suites: a small fleet with four
 * injected faults over real MQTT in accelerated event time, through `startForewarn`, with an
 * action (a store outage) started when the first warning is stored. Returns what the records
 * store holds afterwards in a form that two runs can be compared by: per appliance serial, its
 * tickets, warnings and history, without ids or wall-clock times.
 */
import type pino from 'pino'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import type { ApplianceType } from '../../domain/index.ts'
import { runFleet, type FleetHandle } from '../../simulators/fleet.ts'
import type { SimFault } from '../../simulators/appliance.ts'
import { provision, waitFor, type Provisioned } from './helpers.ts'

export const ADMIN_KEY = 'e2e-outage-admin-key-0123456789ab'
const DAY = 86_400_000
export const DAYS = 16
/**
 * One event-time start for every run of a test process (midnight UTC, DAYS + 2 days ago): the
 * signals follow the time of day, so runs compared with each other must start at the same instant.
 * Two days of slack: lost readings are never sent, so DAYS of readings take a little more event time.
 */
const startMs = Math.floor(Date.now() / DAY) * DAY - (DAYS + 2) * DAY

/** Serial suffix → appliance and fault (none: a healthy appliance). */
const FLEET: { type: ApplianceType; fault?: { code: string; component: string } }[] = [
  { type: 'refrigerator', fault: { code: 'REF-CFAN', component: 'condenser_fan' } },
  { type: 'air_conditioner', fault: { code: 'AC-OFAN', component: 'outdoor_fan' } },
  { type: 'water_heater', fault: { code: 'WH-ELEM', component: 'heating_element' } },
  { type: 'washing_machine', fault: { code: 'WM-DRAIN', component: 'drain_pump' } },
  { type: 'refrigerator' },
]

/** What the injected faults say must be ticketed: `serial fault-code`, sorted. */
export const groundTruth = (prefix: string): string[] =>
  FLEET.flatMap((m, i) => (m.fault ? [`${prefix}-${i} ${m.fault.code}`] : [])).sort()

/** The scenario's appliances (`serial fault-code` order as provisioned). */
export const scenarioTypes: readonly ApplianceType[] = FLEET.map((m) => m.type)

/**
 * Runs the scenario's fleet, or part of it, against one broker: `index` is the member's place in
 * the scenario (its fault). Every part starts at the same event time, so a fleet split over
 * several brokers sends exactly what one fleet sends.
 */
export function startScenarioFleet(brokerUrl: string, members: readonly (Provisioned & { index: number })[], o: { intervalMs: number; batchSize: number }): FleetHandle {
  return runFleet({
    brokerUrl,
    members: members.map(({ index, ...m }) => {
      const f = FLEET[index]?.fault
      // Failure after the last reading: no firmware error codes, which travel on their own topic,
      // so where they land among the readings would depend on the fleet's pacing, not on the store.
      const fault: SimFault | undefined = f ? { ...f, onsetMs: startMs + 2 * DAY, failureMs: startMs + (DAYS + 1) * DAY } : undefined
      return fault ? { ...m, fault } : m
    }),
    startMs, readingsPerDevice: DAYS * 24 * 60, intervalMs: o.intervalMs, batchSize: o.batchSize, drainTimeoutMs: 120_000,
  })
}

export interface Outcome {
  /** `serial fault-code`, one per ticket, sorted (a duplicate shows up twice). */
  ticketed: string[]
  tickets: string[]
  warnings: string[]
  /** Per serial, its history entry kinds, sorted: every entry there, and once. */
  history: Record<string, string[]>
  readings: number
}

export interface ScenarioOptions {
  dataDir: string
  env: Record<string, string>
  log: pino.Logger
  serialPrefix: string
  /** Wall milliseconds between fleet ticks (each tick sends `batchSize` readings per appliance). */
  intervalMs: number
  batchSize: number
  /**
   * Runs once the first warning is stored, while the fleet is still sending; may replace the
   * running instance (a restart on the same data directory and ports).
   */
  onFirstWarning?: (run: Running, fleet: FleetHandle) => Promise<Running | void>
  /** Fixed ports, so that a restart is found again by the fleet; default: any free ones. */
  mqttPort?: number
  apiPort?: number
}

async function all<T>(page: (after?: string) => Promise<{ items: T[]; next: string | null }>): Promise<T[]> {
  const out: T[] = []
  let after: string | undefined
  for (;;) {
    const p = await page(after)
    out.push(...p.items)
    if (p.next === null) return out
    after = p.next
  }
}

export async function outcomeOf(run: Running, serialOf: Map<string, string>): Promise<Outcome> {
  const s = (id: string): string => serialOf.get(id) ?? id
  const tickets = await all((after) => run.store.listTickets({ limit: 1000, after }))
  const warnings = await all((after) => run.store.listWarnings({ limit: 1000, after }))
  const history: Record<string, string[]> = {}
  for (const [id, serial] of serialOf) {
    history[serial] = (await all((after) => run.store.history(id, { limit: 1000, after }))).map((e) => e.kind).sort()
  }
  return {
    ticketed: tickets.map((t) => `${s(t.deviceId)} ${t.fault.code}`).sort(),
    tickets: tickets.map((t) => `${s(t.deviceId)} ${t.fault.code} ${t.fault.severity} ${t.priority} ${t.state} warnings=${t.warningIds.length}`).sort(),
    warnings: warnings.map((w) => `${s(w.deviceId)} ${w.faultCode} ${w.severity} ${w.state}`).sort(),
    history,
    readings: run.ingest.stats().accepted,
  }
}

/** Runs the fleet to the end and waits until every committed reading is processed and stored. */
export async function runScenario(o: ScenarioOptions): Promise<{ run: Running; outcome: Outcome; serialOf: Map<string, string> }> {
  const config = loadStartConfig({ dataDir: o.dataDir, mqttPort: o.mqttPort ?? 0, apiPort: o.apiPort ?? 0, simulate: 0 }, {
    FOREWARN_ADMIN_KEY: ADMIN_KEY, FOREWARN_HEALTH_FLUSH_MS: '100', FOREWARN_CHECKPOINT_MS: '200',
  })
  let run = await startForewarn(config, o.log, o.env)
  try {
    const members = await provision(run.apiUrl, ADMIN_KEY, scenarioTypes, o.serialPrefix)
    const serialOf = new Map(members.map((m, i) => [m.deviceId, `${o.serialPrefix}-${i}`]))
    const fleet = startScenarioFleet(run.mqttUrl, members.map((m, i) => ({ ...m, index: i })), o)
    if (o.onFirstWarning) {
      await waitFor('a first warning', async () => ((await run.store.listWarnings({ limit: 1 })).items.length > 0 ? true : undefined), 120_000, 50)
      run = (await o.onFirstWarning(run, fleet)) ?? run
    }
    const summary = await fleet.done
    if (summary.failed !== 0 || summary.acknowledged !== summary.published) {
      throw new Error(`fleet: ${summary.acknowledged} of ${summary.published} readings acknowledged, ${summary.failed} failed`)
    }
    await waitFor('the pipeline to drain and store everything', async () => {
      const ready = await fetch(`${run.apiUrl}/readyz`)
      return run.ingest.stats().queued === 0 && ready.status === 200 ? true : undefined
    }, 120_000, 100)
    // Health flushes every 100 ms, checkpoints every 200 ms.
    await new Promise((r) => setTimeout(r, 800))
    return { run, outcome: await outcomeOf(run, serialOf), serialOf }
  } catch (err) {
    await run.stop()
    throw err
  }
}

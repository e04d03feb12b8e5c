/**
 * The fleet `forewarn start --simulate N` runs in-process: provisioned through the real HTTP API
 * like any production batch, connected over real MQTT, replaying `simulateDays` of event time
 * in `simulateCatchUpS` wall seconds so that faults develop and are detected within minutes.
 * Its credentials live in the data directory, as a device keeps its own, so a restart reconnects.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { DATA_FILE_MODE } from './data-dir.ts'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { ApplianceType } from '../domain/index.ts'
import { planFleet, type SimFault } from '../simulators/appliance.ts'
import { runFleet, type FleetHandle } from '../simulators/fleet.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { StartConfig } from './config.ts'

interface FleetMember {
  deviceId: string
  username: string
  password: string
  type: ApplianceType
  model: string
  seed: number
  fault?: SimFault
}

interface FleetFile {
  seed: number
  startMs: number
  days: number
  members: FleetMember[]
}

export interface SimulatedFleet {
  members: readonly FleetMember[]
  /** True when the fleet came back from an earlier run's data directory. */
  resumed: boolean
  stop(): Promise<void>
}

const regions = ['north', 'south', 'east', 'west']

async function provision(apiUrl: string, apiKey: string, plan: ReturnType<typeof planFleet>['members'], startMs: number): Promise<FleetMember[]> {
  const members: FleetMember[] = []
  for (const [i, m] of plan.entries()) {
    const installDate = new Date(startMs - (200 + i * 37) * 86_400_000).toISOString().slice(0, 10)
    const standardEnd = new Date(startMs + (i % 3 === 0 ? -30 : 500) * 86_400_000).toISOString().slice(0, 10)
    const res = await fetch(`${apiUrl}/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        type: m.type, model: m.model, serial: `SIM-${String(i + 1).padStart(5, '0')}`, region: regions[i % regions.length],
        installDate, warranty: { standardEnd, extended: [] },
      }),
    })
    if (res.status !== 201) throw new Error(`provisioning a simulated appliance failed: ${res.status} ${await res.text()}`)
    const body = (await res.json()) as { device: { id: string }; credentials: { username: string; password: string } }
    const member: FleetMember = { deviceId: body.device.id, username: body.credentials.username, password: body.credentials.password, type: m.type, model: m.model, seed: m.seed }
    if (m.fault) member.fault = m.fault
    members.push(member)
  }
  return members
}

export async function startSimulatedFleet(o: {
  config: StartConfig
  dataDir: string
  apiUrl: string
  mqttUrl: string
  store: AsyncRecordsStore
  log: Logger
}): Promise<SimulatedFleet> {
  const file = join(o.dataDir, 'simulated-fleet.json')
  const { config } = o
  const now = Date.now()
  let fleet: FleetFile
  let startMs: number
  const resumed = existsSync(file)
  if (resumed) {
    fleet = JSON.parse(readFileSync(file, 'utf8')) as FleetFile
    // A restart is a firmware restart for the appliances: they resume in the present.
    startMs = now - 3_600_000
  } else {
    startMs = now - config.simulateDays * 86_400_000
    const plan = planFleet({ devices: config.simulate, seed: config.seed, startMs, days: config.simulateDays, faultShare: 0.25 })
    const { key } = await o.store.createApiKey(['devices:admin'], 'simulated fleet')
    const members = await provision(o.apiUrl, key, plan.members, startMs)
    fleet = { seed: config.seed, startMs, days: config.simulateDays, members }
    // It holds every simulated device's MQTT password: owner only (cli/data-dir.ts).
    writeFileSync(`${file}.tmp`, JSON.stringify(fleet, null, 2), { mode: DATA_FILE_MODE })
    renameSync(`${file}.tmp`, file)
  }
  const readingsPerMessage = 60
  const hoursToReplay = Math.max(1, Math.ceil((now - startMs) / 3_600_000))
  const handle: FleetHandle = runFleet({
    brokerUrl: o.mqttUrl,
    members: fleet.members.map((m) => ({ deviceId: m.deviceId, username: m.username, password: m.password, type: m.type, seed: m.seed, ...(m.fault ? { fault: m.fault } : {}) })),
    startMs,
    intervalMs: Math.max(20, Math.floor((config.simulateCatchUpS * 1000) / hoursToReplay)),
    batchSize: readingsPerMessage,
  })
  o.log.info({ devices: fleet.members.length }, 'simulated fleet started')
  return {
    members: fleet.members,
    resumed,
    async stop() {
      await handle.stop()
    },
  }
}

/**
 * Simulated appliances: pure signal models (no MQTT, no clock, no IO) used by the MQTT fleet,
 * by `forewarn evaluate` and by tests. Each appliance runs its type's physics (model/), lives
 * in a home with benign disturbances (model/env.ts), and may carry one injected fault that
 * degrades gradually from onset to functional failure.
 */
import type { ApplianceType, BuiltinType } from '../domain/index.ts'
import { applianceSpec } from '../domain/index.ts'
import { faultSeverity, inSpan, planHome, rng, type HomeSchedule } from './model/env.ts'
import type { ApplianceModel, ModelFactory, SimFault } from './model/types.ts'

export type { GroundTruth, SimFault } from './model/types.ts'
import { refrigeratorModel } from './model/refrigerator.ts'
import { airConditionerModel } from './model/air-conditioner.ts'
import { washingMachineModel } from './model/washing-machine.ts'
import { waterHeaterModel } from './model/water-heater.ts'

export interface SimApplianceOptions {
  deviceId: string
  /** A shipped type: the simulator has a physical model of each (a data-defined type has none). */
  type: ApplianceType
  seed: number
  /** Event time of the first reading. */
  startMs: number
  /** Defaults to the catalogue's reporting interval. */
  intervalMs?: number
  fault?: SimFault
  /** Days over which benign disturbances are planned (default 180). */
  horizonDays?: number
  /** Turn off benign disturbances (clean signals for unit tests). Default true. */
  disturbances?: boolean
  /** The home's offset from UTC, which sets the local hour its daily routine follows. Default 0. */
  utcOffsetMs?: number
}

export interface SimReading {
  ts: number
  metrics: Record<string, number>
  /**
   * True when a real device would not have sent this reading (power cut, connectivity
   * dropout): publishers should skip it. Absent otherwise.
   */
  lost?: boolean
  /** Firmware boot counter: increments on every (simulated) firmware restart. */
  boot: number
}

export interface SimAppliance {
  readonly deviceId: string
  readonly type: ApplianceType
  readonly intervalMs: number
  /** Produces the next reading and advances the appliance's clock by one interval. */
  next(): SimReading
  /** Firmware error codes raised since the last call (e.g. a hard failure after `failureMs`). */
  drainFirmwareEvents(): { ts: number; code: string; detail?: string }[]
}

export { rng }

const models: Record<BuiltinType, ModelFactory> = {
  refrigerator: refrigeratorModel,
  air_conditioner: airConditionerModel,
  washing_machine: washingMachineModel,
  water_heater: waterHeaterModel,
}

/** The error code a firmware reports once a fault has become a functional failure. */
const failureCodes: Record<string, string> = {
  'REF-CMPW': 'E7', 'AC-OFAN': 'E4', 'WM-DRAIN': 'E21', 'WM-INLET': 'E10', 'WH-THERM': 'E3',
}

const noHome = (utcOffsetMs: number): HomeSchedule => ({ heatWaves: [], powerCuts: [], firmwareRestarts: [], stuck: [], dropouts: [], seasonPhase: 0, utcOffsetMs })

export function createSimAppliance(o: SimApplianceOptions): SimAppliance {
  if (!Object.hasOwn(models, o.type)) throw new Error(`no simulator for appliance type ${o.type}: only the shipped types are simulated`)
  const spec = applianceSpec(o.type)
  const intervalMs = o.intervalMs ?? spec.reportingIntervalS * 1000
  const rand = rng(o.seed)
  const home = o.disturbances === false ? noHome(o.utcOffsetMs ?? 0) : planHome(rand, o.startMs, o.horizonDays ?? 180, o.utcOffsetMs ?? 0)
  const model: ApplianceModel = models[o.type as BuiltinType](rand, home)
  const fault = o.fault
  const shape = fault?.shape ?? 1.5
  const analog = spec.metrics.filter((m) => m.unit !== 'bool' && m.unit !== 'enum').map((m) => m.name)
  const spikeChance = o.disturbances === false ? 0 : intervalMs / (3000 * 60_000)
  const fw: { ts: number; code: string; detail?: string }[] = []
  let failed = false
  let restarts = 0
  let boot = 0
  let stuckName: string | null = null
  let stuckValue = 0
  let ts = o.startMs
  let sevNow = 0
  const sev = (code: string): number => (fault !== undefined && code === fault.code ? sevNow : 0)

  return {
    deviceId: o.deviceId,
    type: o.type,
    intervalMs,
    next() {
      if (fault) {
        sevNow = faultSeverity(ts, fault.onsetMs, fault.failureMs, shape)
        if (!failed && ts >= fault.failureMs) {
          failed = true
          const code = failureCodes[fault.code]
          if (code) fw.push({ ts, code, detail: `${fault.code} reached functional failure` })
        }
      }
      while (restarts < home.firmwareRestarts.length && (home.firmwareRestarts[restarts] as number) <= ts) {
        restarts++
        boot++
      }
      const powered = inSpan(home.powerCuts, ts) === undefined
      const metrics: Record<string, number> = {}
      model.step(ts, intervalMs / 60_000, metrics, sev, powered)
      const stuck = inSpan(home.stuck, ts)
      if (stuck && analog.length > 0) {
        const name = analog[stuck.value % analog.length] as string
        if (stuckName !== name) { stuckName = name; stuckValue = metrics[name] as number }
        metrics[name] = stuckValue
      } else stuckName = null
      if (analog.length > 0 && rand() < spikeChance) {
        const name = analog[Math.floor(rand() * analog.length)] as string
        metrics[name] = (metrics[name] as number) * 3 + 25
      }
      const r: SimReading = { ts, metrics, boot }
      if (!powered || inSpan(home.dropouts, ts) !== undefined) r.lost = true
      ts += intervalMs
      return r
    },
    drainFirmwareEvents() {
      return fw.splice(0, fw.length)
    },
  }
}

export { planFleet, type FleetMember, type FleetPlan, type FleetPlanOptions } from './model/plan.ts'

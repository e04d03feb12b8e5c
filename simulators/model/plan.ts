/**
 * The fleet from a seed: which appliances exist, which carry a fault, and the ground truth of
 * every injected fault. The MQTT fleet runner and `forewarn evaluate` both call this, so the
 * same seed means the same fleet.
 */
import { applianceTypes, catalogue, type BuiltinType } from '../../domain/index.ts'
import type { GroundTruth, SimFault } from './types.ts'
import { rng } from './env.ts'

const DAY_MS = 86_400_000

export interface FleetPlanOptions {
  devices: number
  seed: number
  startMs: number
  days: number
  /** Share of devices that develop a fault within the horizon (default 0.3). */
  faultShare?: number
  /** Prefix of generated device ids (default 'sim'). */
  idPrefix?: string
}

export interface FleetMember {
  deviceId: string
  type: BuiltinType
  model: string
  seed: number
  fault?: SimFault
}

export interface FleetPlan {
  members: FleetMember[]
  truth: GroundTruth[]
}

export function planFleet(o: FleetPlanOptions): FleetPlan {
  const rand = rng(o.seed ^ 0x5eed)
  const share = o.faultShare ?? 0.3
  const members: FleetMember[] = []
  const truth: GroundTruth[] = []
  const width = String(Math.max(1, o.devices - 1)).length
  for (let i = 0; i < o.devices; i++) {
    const type = applianceTypes[i % applianceTypes.length] as BuiltinType
    const spec = catalogue[type]
    const deviceId = `${o.idPrefix ?? 'sim'}-${String(i).padStart(Math.max(4, width), '0')}`
    const m: FleetMember = {
      deviceId,
      type,
      model: spec.models[Math.floor(rand() * spec.models.length)] as string,
      seed: Math.floor(rand() * 2 ** 31),
    }
    if (rand() < share) {
      const f = spec.faults[Math.floor(rand() * spec.faults.length)]!
      // Warm-up first, then a fault whose degradation takes 7–40 days and fails within the horizon.
      const earliest = Math.min(4, o.days * 0.3)
      const duration = Math.min(7 + rand() * 33, Math.max(1, (o.days - earliest) * 0.9))
      const onsetDay = earliest + rand() * Math.max(0, o.days - earliest - duration)
      const onsetMs = o.startMs + Math.round(onsetDay * DAY_MS)
      m.fault = { code: f.code, component: f.component, onsetMs, failureMs: onsetMs + Math.round(duration * DAY_MS), shape: 1 + rand() }
      truth.push({ deviceId, type, faultCode: f.code, component: f.component, onsetMs, failureMs: m.fault.failureMs })
    }
    members.push(m)
  }
  return { members, truth }
}

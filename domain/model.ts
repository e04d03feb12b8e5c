/** Records shared by detectors, API, stores and sinks. Plain data: JSON in, JSON out. */
import Type, { type Static } from 'typebox'
import type { ApplianceType } from './catalogue.ts'

export const IsoDate = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'calendar date, YYYY-MM-DD' })

export const Warranty = Type.Object(
  {
    /** End of the standard warranty (inclusive). */
    standardEnd: IsoDate,
    /** Extended warranties bought per core component (e.g. compressor only). */
    extended: Type.Array(Type.Object({ component: Type.String({ minLength: 1 }), end: IsoDate }, { additionalProperties: false }), { default: [] }),
  },
  { additionalProperties: false },
)
export type Warranty = Static<typeof Warranty>

export type ConnectionState = 'online' | 'offline' | 'unknown'

export interface Device {
  id: string
  type: ApplianceType
  model: string
  serial: string
  region: string
  installDate: string
  warranty: Warranty
  ownerRef: string | null
  /** A home hub that may publish on this device's behalf. */
  gatewayId: string | null
  createdAt: string
  connection: ConnectionState
  lastSeen: number | null
  revoked: boolean
}

export type HealthStatus = 'healthy' | 'watch' | 'warning' | 'critical' | 'offline'

/** Ordered: a higher rank is more urgent. */
export type Severity = 'watch' | 'warning' | 'critical'
export const severityRank: Readonly<Record<Severity, number>> = { watch: 1, warning: 2, critical: 3 }

export interface ComponentHealth {
  /** 0 (failed) … 100 (as new). */
  score: number
  reason: string
}

/** Remaining useful life: when the failure limit is expected to be crossed, with an interval. */
export interface RemainingLife {
  medianHours: number
  lowHours: number
  highHours: number
}

const tenth = (h: number): number => Math.round(h * 10) / 10

/**
 * Remaining life as the API and tickets give it: hours to one decimal (6 minutes), finer than any
 * estimate's interval, instead of a float's seventeen digits. Stored rounded, so the ticket's
 * deadlines follow the same numbers the ticket shows.
 */
export function roundedLife(r: RemainingLife): RemainingLife {
  return { medianHours: tenth(r.medianHours), lowHours: tenth(r.lowHours), highHours: tenth(r.highHours) }
}

export interface Evidence {
  feature: string
  value: number
  baseline: number
  /** Robust deviation from the baseline, in baseline spreads (MAD units). */
  deviation: number
  /** Trend of the feature per day, when one was fitted. */
  slopePerDay: number | null
  detail: string
  /** Unit of `value` and `baseline`, from the catalogue (absent for derived features). */
  unit?: string
}

export interface Usage {
  runningHours: number
  cycles: number
  doorOpenings: number
}

/** What the detector keeps about a device's health (the identity part is added by the API). */
export interface HealthCore {
  overall: number
  status: HealthStatus
  components: Record<string, ComponentHealth>
  usage: Usage
  /** Event time of the newest reading the detector has seen. */
  lastEventTime: number | null
  warmingUp: boolean
  /** Readings that did not arrive in event-time order and what became of them (absent: none). */
  input?: InputQuality
}

export interface InputQuality {
  /** Late readings folded into the current feature window. */
  lateFolded: number
  /** Readings left out: older than the current feature window, repeated, or not foldable for the type. */
  dropped: number
  reason: string
}

export type DetectorEventKind = 'warning.raised' | 'warning.escalated' | 'warning.cleared'

/**
 * What the detector emits. `episodeId` is deterministic (`{deviceId}:{faultCode}:{n}`) so that a
 * replay after a restart produces the same ids and the stores can upsert instead of duplicating.
 */
export interface DetectorEvent {
  kind: DetectorEventKind
  deviceId: string
  episodeId: string
  faultCode: string
  component: string
  severity: Severity
  /** Event time of the reading that caused it. */
  eventTime: number
  message: string
  evidence: Evidence[]
  rul: RemainingLife | null
  /** 'detector' for learnt anomalies, 'firmware' for error codes the appliance reported itself. */
  source: 'detector' | 'firmware'
}

export type WarningState = 'active' | 'cleared'

export interface WarningRecord {
  id: string
  deviceId: string
  faultCode: string
  component: string
  severity: Severity
  state: WarningState
  source: 'detector' | 'firmware'
  message: string
  evidence: Evidence[]
  rul: RemainingLife | null
  /** Event time of the first reading of the episode. */
  eventTime: number
  /** Wall-clock moment Forewarn raised it: SLA clocks start here. */
  detectedAt: string
  updatedAt: string
  clearedAt: string | null
}

export type TicketState = 'open' | 'acknowledged' | 'scheduled' | 'in_progress' | 'resolved' | 'cancelled'
export type Coverage = 'warranty' | 'extended_warranty' | 'out_of_warranty'
export type Priority = 'P1' | 'P2' | 'P3'

/**
 * The API's records as TypeBox schemas (STYLE.md 2): each is the route schema, the OpenAPI
 * document and — through Static — the TypeScript type the store returns. Domain interfaces
 * (Device, WarningRecord) are checked against these at compile time at the bottom of the file.
 */
import Type, { type Static } from 'typebox'
import { DEVICE_ID_PATTERN, IsoDate, Warranty } from '../domain/index.ts'
import type { Device, WarningRecord } from '../domain/index.ts'

const literals = <T extends string>(values: readonly T[], description?: string) =>
  Type.Enum([...values], description === undefined ? {} : { description })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const ApplianceTypeSchema = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'machine type from the loaded catalogue (GET /catalogue)' })
export const SeveritySchema = literals(['watch', 'warning', 'critical'] as const)
export const HealthStatusSchema = literals(['healthy', 'watch', 'warning', 'critical', 'offline'] as const)
export const ConnectionStateSchema = literals(['online', 'offline', 'unknown'] as const)
export const WarningStateSchema = literals(['active', 'cleared'] as const)
export const TicketStateSchema = literals(['open', 'acknowledged', 'scheduled', 'in_progress', 'resolved', 'cancelled'] as const)
export const CoverageSchema = literals(['warranty', 'extended_warranty', 'out_of_warranty'] as const)
export const PrioritySchema = literals(['P1', 'P2', 'P3'] as const)
export const SourceSchema = literals(['detector', 'firmware'] as const)
export const Scope = literals(['read', 'tickets:write', 'devices:admin'] as const)
export type Scope = Static<typeof Scope>
export const allScopes: readonly Scope[] = ['read', 'tickets:write', 'devices:admin']

const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength })
export const DeviceId = Type.String({ pattern: DEVICE_ID_PATTERN, description: 'device id, also its MQTT username' })

export const NewDevice = Type.Object(
  {
    type: ApplianceTypeSchema,
    model: Text(64),
    serial: Text(64),
    region: Text(64),
    installDate: IsoDate,
    warranty: Warranty,
    ownerRef: Type.Optional(Text(128)),
    gatewayId: Type.Optional(DeviceId),
  },
  { additionalProperties: false },
)
export type NewDevice = Static<typeof NewDevice>

export const DeviceSchema = Type.Object({
  id: DeviceId,
  type: ApplianceTypeSchema,
  model: Type.String(),
  serial: Type.String(),
  region: Type.String(),
  installDate: IsoDate,
  warranty: Warranty,
  ownerRef: Nullable(Type.String()),
  gatewayId: Nullable(Type.String()),
  createdAt: Type.String({ description: 'ISO 8601' }),
  connection: ConnectionStateSchema,
  lastSeen: Nullable(Type.Number({ description: 'ms since epoch' })),
  revoked: Type.Boolean(),
})

export const Credentials = Type.Object({
  username: Type.String(),
  password: Type.String({ description: 'shown only in this answer; stored keyed-hashed' }),
})
export type Credentials = Static<typeof Credentials>

/** A home hub that speaks for the devices registered behind it (issue 4); its id is its MQTT username. */
export const NewGateway = Type.Object(
  {
    label: Text(128),
    region: Type.Optional(Text(64)),
    ownerRef: Type.Optional(Text(128)),
  },
  { additionalProperties: false },
)
export type NewGateway = Static<typeof NewGateway>

export const GatewaySchema = Type.Object({
  id: Type.String({ description: 'gateway id (gw-…), also its MQTT username and client id' }),
  label: Type.String(),
  region: Nullable(Type.String()),
  ownerRef: Nullable(Type.String()),
  createdAt: Type.String({ description: 'ISO 8601' }),
  revoked: Type.Boolean(),
})
export type Gateway = Static<typeof GatewaySchema>

export const GatewayDetailSchema = Type.Object({
  ...GatewaySchema.properties,
  deviceIds: Type.Array(Type.String(), { description: 'devices it may publish for: registered behind it and not revoked' }),
})
export type GatewayDetail = Gateway & { deviceIds: string[] }

export const EvidenceSchema = Type.Object({
  feature: Type.String(),
  value: Type.Number(),
  baseline: Type.Number(),
  deviation: Type.Number(),
  slopePerDay: Nullable(Type.Number()),
  detail: Type.String(),
  unit: Type.Optional(Type.String({ description: 'unit of value and baseline, from the catalogue' })),
})
const lifeHours = (what: string) => Type.Number({ description: `${what}, in hours to one decimal` })
export const RemainingLifeSchema = Type.Object({
  medianHours: lifeHours('most likely remaining life'), lowHours: lifeHours('low end of its interval'), highHours: lifeHours('high end of its interval'),
}, { description: 'remaining useful life from detection: when the failure limit is expected to be crossed' })

export const WarningSchema = Type.Object({
  id: Type.String({ description: 'fault-episode id' }),
  deviceId: Type.String(),
  faultCode: Type.String(),
  component: Type.String(),
  severity: SeveritySchema,
  state: WarningStateSchema,
  source: SourceSchema,
  message: Type.String(),
  evidence: Type.Array(EvidenceSchema),
  rul: Nullable(RemainingLifeSchema),
  eventTime: Type.Number({ description: 'ms since epoch (kept in ms: it is the event time the device reported): first reading of the episode' }),
  detectedAt: Type.String({ description: 'ISO 8601 UTC: when Forewarn raised it' }),
  updatedAt: Type.String({ description: 'ISO 8601 UTC' }),
  clearedAt: Nullable(Type.String({ description: 'ISO 8601 UTC' })),
  ticketId: Type.Optional(Nullable(Type.String())),
})
export type WarningView = Static<typeof WarningSchema>

export const HealthCoreSchema = Type.Object({
  overall: Type.Number(),
  status: HealthStatusSchema,
  components: Type.Record(Type.String(), Type.Object({ score: Type.Number(), reason: Type.String() })),
  usage: Type.Object({ runningHours: Type.Number(), cycles: Type.Number(), doorOpenings: Type.Number() }),
  lastEventTime: Nullable(Type.Number({ description: 'ms since epoch: event time of the newest reading' })),
  warmingUp: Type.Boolean(),
  /** How many late readings were folded in, and how many were left out and why. */
  input: Type.Optional(Type.Object({ lateFolded: Type.Integer({ minimum: 0 }), dropped: Type.Integer({ minimum: 0 }), reason: Type.String() })),
})

export const HealthRecordSchema = Type.Object({
  device: DeviceSchema,
  status: HealthStatusSchema,
  health: Nullable(HealthCoreSchema),
  healthUpdatedAt: Nullable(Type.String()),
  activeWarnings: Type.Array(WarningSchema),
  recentWarnings: Type.Array(WarningSchema, { description: 'cleared warnings, newest first' }),
  openTickets: Type.Array(Type.String()),
})
export type HealthRecord = Static<typeof HealthRecordSchema>

export const SparePartSchema = Type.Object({ partNumber: Type.String(), name: Type.String() })

export const TicketSchema = Type.Object({
  id: Type.String(),
  episodeId: Type.String({ description: 'the fault episode that opened it' }),
  warningIds: Type.Array(Type.String(), { description: 'every warning joined to this ticket' }),
  deviceId: Type.String(),
  state: TicketStateSchema,
  priority: PrioritySchema,
  appliance: Type.Object({
    type: ApplianceTypeSchema,
    model: Type.String(),
    serial: Type.String(),
    region: Type.String(),
    installDate: Type.String(),
    ownerRef: Nullable(Type.String()),
  }),
  warranty: Type.Object({
    coverage: CoverageSchema,
    payer: literals(['manufacturer', 'extended_warranty_provider', 'customer'] as const),
    standardEnd: Type.String(),
    extendedEnd: Nullable(Type.String()),
    remedy: literals(['return', 'exchange', 'repair'] as const, '7-day return, 15-day exchange, else repair'),
  }),
  fault: Type.Object({
    code: Type.String(),
    component: Type.String(),
    componentName: Type.String(),
    name: Type.String(),
    description: Type.String(),
    impact: literals(['high', 'medium', 'low'] as const),
    severity: SeveritySchema,
    source: SourceSchema,
  }),
  evidence: Type.Array(EvidenceSchema),
  rul: Nullable(RemainingLifeSchema),
  healthScore: Nullable(Type.Number()),
  parts: Type.Array(SparePartSchema),
  sla: Type.Object({
    anchoredAt: Type.String({ description: 'detection time (wall clock)' }),
    confirmBy: Type.String(),
    planBy: Type.String({ description: 'the visit agreed (never after respondBy)' }),
    respondBy: Type.String({ description: 'technician on site: the visit-by time of a predicted fault, the tier response of a breakdown' }),
    closeBy: Type.String({ description: 'repair done: before the expected failure (predicted), or the tier close time (breakdown)' }),
    policy: Type.Optional(literals(['predicted', 'breakdown'] as const, 'which clock the deadlines follow; absent on tickets older than it, which ran the breakdown clock')),
    reason: Type.Optional(Type.String({ description: 'which clock applies and why, in plain words' })),
    failureExpectedAt: Type.Optional(Nullable(Type.String({ description: 'predicted: the low end of the remaining-life interval, counted from detection' }))),
    breakdownAt: Type.Optional(Nullable(Type.String({ description: 'breakdown: when the breakdown clock started' }))),
    onFailure: Type.Optional(Nullable(Type.Object({
      anchoredAt: Type.String(), confirmBy: Type.String(), planBy: Type.String(), respondBy: Type.String(), closeBy: Type.String(),
    }, { description: 'predicted: the breakdown clock that applies if failureExpectedAt comes before the technician (GET /tickets/{id}/timeline shows the clock in force)' }))),
  }),
  links: Type.Object({
    healthRecord: Type.String(), history: Type.String(), grafana: Nullable(Type.String()),
    status: Type.Optional(Type.String({ description: "the appliance owner's repair-status page (GET /status/{token}); absent on tickets older than it" })),
  }),
  resolution: Nullable(Type.Object({ outcome: Type.String(), partNumber: Nullable(Type.String()), note: Nullable(Type.String()) })),
  repeatRepair: Type.Boolean({ description: 'the fault returned soon after a repair of the same component (a warranty-fraud and quality signal)' }),
  repeatOf: Nullable(Type.Object({
    ticketId: Type.String({ description: 'the earlier ticket whose repair this fault followed' }),
    outcome: Type.String(),
    resolvedAt: Type.String(),
    daysSinceRepair: Type.Number(),
  })),
  detectedAt: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
})
export type TicketRecord = Static<typeof TicketSchema>

export const HistoryEntrySchema = Type.Object({
  seq: Type.Integer({ minimum: 1 }),
  at: Type.String(),
  kind: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  prevHash: Type.String(),
  hash: Type.String(),
})
export type HistoryEntry = Static<typeof HistoryEntrySchema>

export const VerifyResultSchema = Type.Union([
  Type.Object({ ok: Type.Literal(true), entries: Type.Integer() }),
  Type.Object({ ok: Type.Literal(false), firstBrokenSeq: Type.Integer(), reason: Type.String() }),
])
export type VerifyResult = Static<typeof VerifyResultSchema>

export const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
})

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  after: Type.Optional(Type.String({ maxLength: 200, description: 'cursor from the previous page' })),
})

export const pageOf = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), next: Nullable(Type.String({ description: 'cursor of the next page, null at the end' })) })

// Compile-time checks: the schemas and the domain interfaces describe the same records.
type Assert<T extends true> = T
export type _DeviceMatches = Assert<Device extends Static<typeof DeviceSchema> ? true : false>
export type _WarningMatches = Assert<WarningRecord extends WarningView ? true : false>

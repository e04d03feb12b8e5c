/** Database rows → plain records. Explicit, because libsql rows carry an extra `_metadata` key
 * and column names are snake_case. */
import type { ConnectionState, Device, Evidence, RemainingLife, Severity, Warranty } from '../../domain/index.ts'
import type { ApplianceType } from '../../domain/index.ts'
import { roundedLife } from '../../domain/index.ts'
import type { Selectable } from 'kysely'
import type { Database } from './schema.ts'
import type { Gateway, OutboxRow, StoredWarning, TicketRecord } from './types.ts'

export type DeviceRow = Selectable<Database['devices']>

export const toDevice = (r: DeviceRow): Device => ({
  id: r.id,
  type: r.type as ApplianceType,
  model: r.model,
  serial: r.serial,
  region: r.region,
  installDate: r.install_date,
  warranty: JSON.parse(r.warranty) as Warranty,
  ownerRef: r.owner_ref,
  gatewayId: r.gateway_id,
  createdAt: r.created_at,
  connection: r.connection as ConnectionState,
  lastSeen: r.last_seen,
  revoked: r.revoked !== 0,
})

export type GatewayRow = Selectable<Database['gateways']>

export const toGateway = (r: GatewayRow): Gateway => ({
  id: r.id, label: r.label, region: r.region, ownerRef: r.owner_ref, createdAt: r.created_at, revoked: r.revoked !== 0,
})

export type WarningRow = Selectable<Database['warnings']>

export const toWarning = (r: WarningRow): StoredWarning => ({
  id: r.id,
  deviceId: r.device_id,
  faultCode: r.fault_code,
  component: r.component,
  severity: r.severity as Severity,
  state: r.state as StoredWarning['state'],
  source: r.source as StoredWarning['source'],
  message: r.message,
  evidence: JSON.parse(r.evidence) as Evidence[],
  // Rows written before hours were rounded read as rounded too.
  rul: r.rul === null ? null : roundedLife(JSON.parse(r.rul) as RemainingLife),
  eventTime: r.event_time,
  detectedAt: r.detected_at,
  updatedAt: r.updated_at,
  clearedAt: r.cleared_at,
  ticketId: r.ticket_id,
})

export type TicketRow = Pick<Selectable<Database['tickets']>, 'record'>

/** Tickets written before repeat-repair flags existed read as not repeats. */
export const toTicket = (r: TicketRow): TicketRecord => {
  const t = JSON.parse(r.record) as TicketRecord
  if (t.rul !== null) t.rul = roundedLife(t.rul)
  t.repeatRepair ??= false
  t.repeatOf ??= null
  return t
}

export type OutboxDbRow = Selectable<Database['outbox']>

export const toOutbox = (r: OutboxDbRow): OutboxRow => ({
  id: r.id,
  ticketId: r.ticket_id,
  adapter: r.adapter,
  event: r.event as OutboxRow['event'],
  payload: roundedPayload(JSON.parse(r.payload) as TicketRecord),
  state: r.state as OutboxRow['state'],
  attempts: r.attempts,
  lastError: r.last_error,
  externalRef: r.external_ref,
  createdAt: r.created_at,
})

function roundedPayload(t: TicketRecord): TicketRecord {
  if (t.rul !== null && t.rul !== undefined) t.rul = roundedLife(t.rul)
  return t
}

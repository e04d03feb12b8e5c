/**
 * The records store as interfaces: `Store` (synchronous, the embedded SQLite store) and
 * `AsyncRecordsStore` (PostgreSQL, or SQLite through open.ts asyncStore). One implementation
 * (./records.ts) serves both; one contract suite (test/api/store.contract.ts) judges both.
 */
import type { ConnectionState, Device, DetectorEvent, HealthCore, HealthStatus, TicketState, WarningRecord, WarningState } from '../../domain/index.ts'
import type { Credentials, Gateway, GatewayDetail, HealthRecord, HistoryEntry, NewDevice, NewGateway, Scope, TicketRecord, VerifyResult } from '../schemas.ts'
import type { TicketPolicy } from '../ticket-policy.ts'
import type { AsyncOutboxPort, OutboxPort } from '../delivery/types.ts'

export type { Credentials, Gateway, GatewayDetail, HealthRecord, HistoryEntry, NewDevice, NewGateway, Scope, TicketRecord, VerifyResult }

export interface Page<T> {
  items: T[]
  /** Opaque cursor of the next page, null at the end. */
  next: string | null
}

export interface PageOptions {
  limit: number
  after?: string | undefined
}

export interface StoredWarning extends WarningRecord {
  ticketId: string | null
}

export interface ApplyResult {
  warning: StoredWarning
  /** The ticket this warning belongs to (opened now, joined now, or earlier), or null. */
  ticket: TicketRecord | null
  /** True when this event created the warning record. */
  created: boolean
  /** False when the event was a replay and changed nothing. */
  applied: boolean
  /** True when this event opened a new ticket. */
  ticketCreated: boolean
}

export interface OutboxRow {
  id: string
  ticketId: string
  /** 'feed' rows make the pull feed; other rows are jobs of that delivery adapter. */
  adapter: string
  event: 'ticket.created' | 'ticket.updated'
  payload: TicketRecord
  state: 'pending' | 'delivered' | 'dead'
  attempts: number
  lastError: string | null
  externalRef: string | null
  createdAt: string
}

export interface TicketTransition {
  state: TicketState
  outcome?: 'part_replaced' | 'repaired' | 'no_fault_found' | 'customer_declined' | undefined
  partNumber?: string | undefined
  note?: string | undefined
}

export type TicketOutcome = NonNullable<TicketTransition['outcome']>

/** A committed ticket state change, as store listeners see it. */
export interface TicketChange {
  /** The ticket after the change. */
  ticket: TicketRecord
  from: TicketState
  to: TicketState
  outcome: TicketOutcome | null
  /** Components of every warning on the ticket: what the detector holds during and resets after a repair. */
  components: string[]
  /** Wall clock of the change (ms). */
  atMs: number
}

/** Called after the change is committed; must not throw (a throw is caught and dropped). */
export type TicketChangeListener = (change: TicketChange) => void

/** Outcomes of resolved tickets per fault code and appliance model. */
export interface PrecisionRow {
  faultCode: string
  model: string
  /** Resolved as part replaced or repaired: the fault was real. */
  confirmed: number
  noFaultFound: number
  /** Customer declined: says nothing about the detector, left out of the precision. */
  declined: number
  /** confirmed / (confirmed + noFaultFound); null before either happened. */
  precision: number | null
}

/** A gateway that authenticated, with the devices it may speak for at this moment. */
export interface GatewayIdentity {
  gateway: Gateway
  /** Devices registered behind it and not revoked, in id order. */
  deviceIds: string[]
}

export interface ApiKeyInfo {
  id: string
  label: string
  scopes: ReadonlyArray<Scope | '*'>
  createdAt: string
  revoked: boolean
}

export interface ApiKeyIdentity {
  id: string
  /** '*' is the admin key: every scope. */
  scopes: ReadonlyArray<Scope | '*'>
}

export interface StoreCounts {
  devices: number
  online: number
  activeWarnings: number
  tickets: number
  openTickets: number
  /** Delivery jobs (not feed rows) waiting to reach a ticketing system. */
  pendingDeliveries: number
  /** Delivery jobs that gave up (GET /deliveries/dead). */
  deadDeliveries: number
}

/** The recent-telemetry window: buckets of `bucketMs` of event time, `buckets` of them per device. */
export interface WindowShape { bucketMs: number; buckets: number }
/** Per metric: the mean of its readings in the bucket and how many readings that is. */
export type BucketMeans = Record<string, readonly [mean: number, count: number]>
export interface StoredBucket { startMs: number; means: BucketMeans }
export interface WindowBucket extends StoredBucket { deviceId: string }

export interface StoreOptions {
  /** Directory of `forewarn.db`; null keeps everything in memory (tests). */
  dataDir: string | null
  /** Base URL the API is reachable at, used in ticket links. */
  publicUrl?: string | undefined
  /** Ticket policy; defaults from ticket-policy.ts. */
  ticketPolicy?: Partial<TicketPolicy> | undefined
  /** Delivery adapter names (e.g. 'rt', 'webhook'): each ticket change gets one outbox job per adapter. */
  deliveryAdapters?: readonly string[] | undefined
  /** Wall clock (ms); injected in tests. */
  now?: (() => number) | undefined
}

/**
 * Synchronous on purpose: the embedded database answers in microseconds and tests and tools call
 * it inline. The PostgreSQL store cannot be synchronous; it implements `AsyncRecordsStore`. Both
 * run the same code (./records.ts).
 */
export interface Store {
  createDevice(input: NewDevice): { device: Device; credentials: Credentials }
  getDevice(id: string): Device | null
  /** Devices whose connection is 'online' (for the silence-to-offline sweep). */
  listOnlineDevices(): Device[]
  listDevices(opts: PageOptions & { type?: string | undefined; status?: ConnectionState | undefined }): Page<Device>
  verifyDeviceCredentials(username: string, password: Buffer): Device | null
  /** Returns false when the device is unknown. */
  setConnection(id: string, state: ConnectionState, atMs: number): boolean
  revokeDevice(id: string): Device
  rotateCredentials(id: string): Credentials

  /** A gateway and its MQTT credentials (username = gateway id; the password is in this answer only). */
  createGateway(input: NewGateway): { gateway: Gateway; credentials: Credentials }
  getGateway(id: string): GatewayDetail | null
  listGateways(opts: PageOptions): Page<Gateway>
  /** Null for an unknown or revoked gateway or a wrong password. */
  verifyGatewayCredentials(username: string, password: Buffer): GatewayIdentity | null
  /** Idempotent; NOT_FOUND when unknown. Its devices keep their own credentials. */
  revokeGateway(id: string): Gateway
  /** NOT_FOUND when unknown, CONFLICT when revoked. */
  rotateGatewayCredentials(id: string): Credentials

  saveHealth(deviceId: string, core: HealthCore): boolean
  /** Many health records in one commit (one fsync instead of one per device); returns how many were saved. */
  /** Records when devices were last heard from (wall clock), in one commit; never moves backwards. */
  touchDevices(items: Iterable<readonly [deviceId: string, atMs: number]>): number
  saveHealthBatch(items: Iterable<readonly [deviceId: string, core: HealthCore]>): number
  getHealthRecord(deviceId: string): HealthRecord | null
  /** Every device's health status (as its health record gives it) in one read: for fleet views. */
  healthStatuses(): Record<string, HealthStatus>

  /**
   * The console's recent-telemetry window (docs/console.md): folds each bucket's means into the
   * device's stored bucket, then drops the device's buckets older than the window (or of another
   * width). Buckets of unknown devices are skipped; returns how many were stored.
   */
  addToWindow(items: Iterable<WindowBucket>, shape: WindowShape): number
  /** A device's stored buckets of this width within the window before its newest, oldest first. */
  recentWindow(deviceId: string, shape: WindowShape): StoredBucket[]

  applyDetectorEvent(ev: DetectorEvent, detectedAtMs: number): ApplyResult
  listWarnings(opts: PageOptions & { deviceId?: string | undefined; state?: WarningState | undefined }): Page<StoredWarning>
  getWarning(id: string): StoredWarning | null
  listTickets(opts: PageOptions & { deviceId?: string | undefined; state?: TicketState | undefined }): Page<TicketRecord>
  getTicket(id: string): TicketRecord | null
  transitionTicket(id: string, change: TicketTransition): TicketRecord
  /** Registers a listener for committed ticket state changes; returns its removal. */
  onTransition(listener: TicketChangeListener): () => void
  /** Repair outcomes per fault code and model (either filter optional), ordered by fault code, model. */
  precision(opts?: { faultCode?: string | undefined; model?: string | undefined }): PrecisionRow[]
  listOutbox(opts: PageOptions & { ticketId?: string | undefined; adapter?: string | undefined }): Page<OutboxRow>
  /** The outbox as the delivery worker's port; jobs of configured adapters only. */
  outboxPort(opts?: { leaseMs?: number }): OutboxPort

  history(deviceId: string, opts: PageOptions): Page<HistoryEntry>
  verifyHistory(deviceId: string): VerifyResult

  ensureAdminKey(fromEnv?: string): { key: string | null }
  createApiKey(scopes: readonly Scope[], label?: string): { id: string; key: string }
  authenticateApiKey(key: string): ApiKeyIdentity | null
  /** Every key without its secret (only digests are stored), oldest first. */
  listApiKeys(): ApiKeyInfo[]
  /** Revokes a key at once; NOT_FOUND when unknown, CONFLICT for the admin key (rotate FOREWARN_ADMIN_KEY instead). */
  revokeApiKey(id: string): ApiKeyInfo

  /** The owner's repair-status token of a ticket (./status-link.ts): same ticket, same token. */
  statusToken(ticketId: string): string
  /** The ticket a status token opens; null when the token is unknown, forged or revoked. */
  ticketByStatusToken(token: string): TicketRecord | null
  /** The ticket's status link stops working for good; NOT_FOUND when the ticket is unknown. Idempotent. */
  revokeStatusLink(ticketId: string): void

  /** Base URL for links written into new tickets (learnt once the API listens). */
  setPublicUrl?(url: string): void

  /** A machine type's fleet models (JSON, cli/fleet-models.ts), or null before any was learnt. */
  getTypeModels(type: string): string | null
  saveTypeModels(type: string, json: string): void

  counts(): StoreCounts
  ping(): boolean
  close(): void
}

export type AsyncStore = { [K in keyof Store]: Store[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<R> : never }

/**
 * `AsyncStore` with three members fixed: `outboxPort` returns a port whose methods are awaited
 * (PostgreSQL cannot answer a claim inline, so the delivery worker must `await` them);
 * `setPublicUrl` and `onTransition` stay synchronous (they touch no data).
 */
export interface AsyncRecordsStore extends Omit<AsyncStore, 'outboxPort' | 'setPublicUrl' | 'onTransition'> {
  outboxPort(opts?: { leaseMs?: number }): AsyncOutboxPort
  setPublicUrl(url: string): void
  onTransition: Store['onTransition']
}

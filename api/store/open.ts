/**
 * The composition root's one way to open the records store: PostgreSQL when a DATABASE_URL is set,
 * the embedded SQLite store otherwise (the default), both in one asynchronous shape
 * (`AsyncRecordsStore`, ./types.ts).
 */
import type { AsyncOutboxPort } from '../delivery/types.ts'
import { toStoreError } from './errors.ts'
import { openPostgresStore, type PostgresStoreOptions } from './postgres.ts'
import { openSqliteStore } from './sqlite.ts'
import type { AsyncRecordsStore, Store, StoreOptions } from './types.ts'

export type { AsyncOutboxPort, AsyncRecordsStore }

/**
 * Either shape, for code that awaits every call (the routes): `await` on a synchronous answer is
 * harmless, so plugins typed with this accept the embedded store as is and the PostgreSQL store.
 */
export type AnyStore = Store | AsyncRecordsStore

export interface ConfiguredStoreOptions extends Omit<StoreOptions, 'dataDir'>, Omit<PostgresStoreOptions, 'databaseUrl'> {
  /** PostgreSQL connection URL; null, undefined or empty selects the embedded store. */
  databaseUrl?: string | null | undefined
  /** Directory of the embedded database (ignored with a databaseUrl); null keeps it in memory. */
  dataDir: string | null
}

export async function openConfiguredStore(opts: ConfiguredStoreOptions): Promise<AsyncRecordsStore> {
  const { databaseUrl, dataDir, ...rest } = opts
  if (databaseUrl !== undefined && databaseUrl !== null && databaseUrl !== '') return openPostgresStore({ ...rest, databaseUrl })
  const { poolSize: _poolSize, onIdleError: _onIdleError, ...sqliteOpts } = rest
  return asyncStore(openSqliteStore({ ...sqliteOpts, dataDir }))
}

/**
 * The synchronous store in the asynchronous shape. Each method is an async function, so an error
 * the store throws becomes a rejection, as it would be from PostgreSQL, and a SQLite failure
 * becomes a STORE error flagged `retriable` when it is (busy, disk full, I/O error: ./errors.ts).
 */
export function asyncStore(s: Store): AsyncRecordsStore {
  return withClassifiedErrors({
    createDevice: async (input) => s.createDevice(input),
    getDevice: async (id) => s.getDevice(id),
    listOnlineDevices: async () => s.listOnlineDevices(),
    listDevices: async (opts) => s.listDevices(opts),
    verifyDeviceCredentials: async (username, password) => s.verifyDeviceCredentials(username, password),
    setConnection: async (id, state, atMs) => s.setConnection(id, state, atMs),
    revokeDevice: async (id) => s.revokeDevice(id),
    rotateCredentials: async (id) => s.rotateCredentials(id),
    createGateway: async (input) => s.createGateway(input),
    getGateway: async (id) => s.getGateway(id),
    listGateways: async (opts) => s.listGateways(opts),
    verifyGatewayCredentials: async (username, password) => s.verifyGatewayCredentials(username, password),
    revokeGateway: async (id) => s.revokeGateway(id),
    rotateGatewayCredentials: async (id) => s.rotateGatewayCredentials(id),
    saveHealth: async (id, core) => s.saveHealth(id, core),
    saveHealthBatch: async (items) => s.saveHealthBatch(items),
    touchDevices: async (items) => s.touchDevices(items),
    getHealthRecord: async (id) => s.getHealthRecord(id),
    healthStatuses: async () => s.healthStatuses(),
    addToWindow: async (items, shape) => s.addToWindow(items, shape),
    recentWindow: async (id, shape) => s.recentWindow(id, shape),
    applyDetectorEvent: async (ev, at) => s.applyDetectorEvent(ev, at),
    listWarnings: async (opts) => s.listWarnings(opts),
    getWarning: async (id) => s.getWarning(id),
    listTickets: async (opts) => s.listTickets(opts),
    getTicket: async (id) => s.getTicket(id),
    transitionTicket: async (id, change) => s.transitionTicket(id, change),
    onTransition: (listener) => s.onTransition(listener),
    precision: async (opts) => s.precision(opts),
    listOutbox: async (opts) => s.listOutbox(opts),
    outboxPort: (opts) => asyncOutboxPort(s.outboxPort(opts)),
    history: async (id, opts) => s.history(id, opts),
    verifyHistory: async (id) => s.verifyHistory(id),
    ensureAdminKey: async (fromEnv) => s.ensureAdminKey(fromEnv),
    createApiKey: async (scopes, label) => s.createApiKey(scopes, label),
    authenticateApiKey: async (key) => s.authenticateApiKey(key),
    listApiKeys: async () => s.listApiKeys(),
    revokeApiKey: async (id) => s.revokeApiKey(id),
    statusToken: async (ticketId) => s.statusToken(ticketId),
    ticketByStatusToken: async (token) => s.ticketByStatusToken(token),
    revokeStatusLink: async (ticketId) => s.revokeStatusLink(ticketId),
    setPublicUrl: (url) => s.setPublicUrl?.(url),
    getTypeModels: async (type) => s.getTypeModels(type),
    saveTypeModels: async (type, json) => s.saveTypeModels(type, json),
    counts: async () => s.counts(),
    ping: async () => s.ping(),
    close: async () => s.close(),
  })
}

/** Every method that returns a promise rejects with a classified STORE error (or its own ForewarnError). */
function withClassifiedErrors(store: AsyncRecordsStore): AsyncRecordsStore {
  const out: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(store) as [string, (...args: unknown[]) => unknown][]) {
    out[name] = (...args: unknown[]) => {
      const r = fn(...args)
      return r instanceof Promise ? r.catch((err: unknown) => { throw toStoreError(err, `embedded store (${name})`) }) : r
    }
  }
  return out as unknown as AsyncRecordsStore
}

export function asyncOutboxPort(p: ReturnType<Store['outboxPort']>): AsyncOutboxPort {
  return {
    claimDue: async (nowMs, limit) => p.claimDue(nowMs, limit),
    markDelivered: async (jobId, ref, nowMs) => p.markDelivered(jobId, ref, nowMs),
    markRetry: async (jobId, attempts, at, error) => p.markRetry(jobId, attempts, at, error),
    markDead: async (jobId, attempts, error) => p.markDead(jobId, attempts, error),
    listDead: async (limit, after) => p.listDead(limit, after),
    replayDead: async (jobId) => p.replayDead(jobId),
  }
}

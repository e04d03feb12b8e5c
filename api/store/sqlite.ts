/**
 * The embedded store: SQLite through libsql (N-API, binary shipped in the npm package), WAL with
 * synchronous=FULL so a commit is on disk (fsync) before it returns.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import Database from 'libsql'
import { ErrorCode, ForewarnError, isApplianceType } from '../../domain/index.ts'
import type { ConnectionState, Device, DetectorEvent, HealthCore, HealthStatus, Severity } from '../../domain/index.ts'
import { allScopes } from '../schemas.ts'
import { defaultTicketPolicy, parseTicketPolicy } from '../ticket-policy.ts'
import { decodeCursor, encodeCursor, pageSize } from './cursor.ts'
import { EventsTable } from './events.ts'
import { HistoryTable } from './history.ts'
import { digestEquals, keyedDigest, newApiKey, newDeviceId, newGatewayId, newKeyId, newPassword } from './ids.ts'
import { migrate } from './migrations.ts'
import { FEED, sqliteOutboxPort } from './outbox.ts'
import { toDevice, toGateway, type DeviceRow, type GatewayRow } from './rows.ts'
import type {
  ApiKeyIdentity, ApiKeyInfo, Credentials, Gateway, GatewayDetail, GatewayIdentity, HealthRecord, NewDevice, NewGateway, Scope, Store, StoreCounts,
  StoreOptions, TicketChangeListener, TicketRecord,
} from './types.ts'
import { TicketChangeListeners } from './listeners.ts'
import { openStatusToken, revokedKey, statusToken } from './status-link.ts'

const ADMIN_KEY_ID = 'admin'
const RECENT_WARNINGS = 10

export function openSqliteStore(opts: StoreOptions): Store {
  let path = ':memory:'
  if (opts.dataDir !== null) {
    try {
      mkdirSync(opts.dataDir, { recursive: true })
    } catch (cause) {
      throw new ForewarnError(ErrorCode.STORE, `cannot create data directory ${opts.dataDir}`, { cause })
    }
    path = join(opts.dataDir, 'forewarn.db')
  }
  let db: Database.Database
  try {
    db = new Database(path)
    db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000')
    migrate(db)
  } catch (cause) {
    throw new ForewarnError(ErrorCode.STORE, `cannot open the embedded database at ${path}`, { cause })
  }
  return new SqliteStore(db, opts)
}

class SqliteStore implements Store {
  private readonly secret: Buffer
  private readonly now: () => number
  private readonly hist: HistoryTable
  private readonly events: EventsTable
  private readonly s
  private publicUrl: string
  private readonly listeners = new TicketChangeListeners()

  constructor(private readonly db: Database.Database, opts: StoreOptions) {
    this.now = opts.now ?? Date.now
    this.publicUrl = opts.publicUrl ?? ''
    this.secret = this.serverSecret()
    this.s = {
      device: db.prepare('SELECT * FROM devices WHERE id = ?'),
      insertDevice: db.prepare(`INSERT INTO devices (id, type, model, serial, region, install_date, warranty, owner_ref, gateway_id, created_at, secret_digest)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      online: db.prepare("SELECT * FROM devices WHERE connection = 'online' ORDER BY id"),
      listDevices: db.prepare(`SELECT * FROM devices WHERE id > :after AND (:type IS NULL OR type = :type)
        AND (:status IS NULL OR connection = :status) ORDER BY id LIMIT :limit`),
      setConnection: db.prepare('UPDATE devices SET connection = ?, last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?'),
      touch: db.prepare('UPDATE devices SET last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?'),
      revoke: db.prepare('UPDATE devices SET revoked = 1 WHERE id = ?'),
      setSecret: db.prepare('UPDATE devices SET secret_digest = ? WHERE id = ?'),
      saveHealth: db.prepare(`INSERT INTO health (device_id, core, updated_at) SELECT id, ?, ? FROM devices WHERE id = ?
        ON CONFLICT (device_id) DO UPDATE SET core = excluded.core, updated_at = excluded.updated_at`),
      health: db.prepare('SELECT core, updated_at FROM health WHERE device_id = ?'),
      activeWarnings: db.prepare("SELECT * FROM warnings WHERE device_id = ? AND state = 'active' ORDER BY n"),
      recentWarnings: db.prepare("SELECT * FROM warnings WHERE device_id = ? AND state = 'cleared' ORDER BY n DESC LIMIT ?"),
      openTickets: db.prepare("SELECT id FROM tickets WHERE device_id = ? AND state NOT IN ('resolved', 'cancelled') ORDER BY n"),
      keyByDigest: db.prepare('SELECT id, scopes FROM api_keys WHERE digest = ? AND revoked = 0'),
      keyById: db.prepare('SELECT id FROM api_keys WHERE id = ?'),
      keyInfo: db.prepare('SELECT id, label, scopes, created_at, revoked FROM api_keys WHERE id = ?'),
      listKeys: db.prepare('SELECT id, label, scopes, created_at, revoked FROM api_keys ORDER BY created_at, id'),
      revokeKey: db.prepare('UPDATE api_keys SET revoked = 1 WHERE id = ?'),
      upsertKey: db.prepare(`INSERT INTO api_keys (id, digest, scopes, label, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, scopes = excluded.scopes, revoked = 0`),
      counts: db.prepare(`SELECT (SELECT count(*) FROM devices) AS devices,
        (SELECT count(*) FROM devices WHERE connection = 'online') AS online,
        (SELECT count(*) FROM warnings WHERE state = 'active') AS activeWarnings,
        (SELECT count(*) FROM tickets) AS tickets,
        (SELECT count(*) FROM tickets WHERE state NOT IN ('resolved', 'cancelled')) AS openTickets,
        (SELECT count(*) FROM outbox WHERE state = 'pending' AND adapter != 'feed') AS pendingDeliveries,
        (SELECT count(*) FROM outbox WHERE state = 'dead') AS deadDeliveries`),
      ping: db.prepare('SELECT 1 AS ok'),
      gateway: db.prepare('SELECT * FROM gateways WHERE id = ?'),
      insertGateway: db.prepare('INSERT INTO gateways (id, label, region, owner_ref, created_at, secret_digest) VALUES (?, ?, ?, ?, ?, ?)'),
      listGateways: db.prepare('SELECT * FROM gateways WHERE id > ? ORDER BY id LIMIT ?'),
      gatewayDevices: db.prepare('SELECT id FROM devices WHERE gateway_id = ? AND revoked = 0 ORDER BY id'),
      revokeGateway: db.prepare('UPDATE gateways SET revoked = 1 WHERE id = ?'),
      setGatewaySecret: db.prepare('UPDATE gateways SET secret_digest = ? WHERE id = ?'),
    }
    this.hist = new HistoryTable(db)
    this.events = new EventsTable({
      db,
      history: this.hist,
      policy: opts.ticketPolicy === undefined ? defaultTicketPolicy : parseTicketPolicy(opts.ticketPolicy),
      now: this.now,
      publicUrl: () => this.publicUrl,
      statusToken: (id) => statusToken(this.secret, id),
      getDevice: (id) => this.getDevice(id),
      healthScore: (id) => this.healthCore(id)?.core.overall ?? null,
      adapters: [...new Set(opts.deliveryAdapters ?? [])].filter((a) => a !== FEED),
    })
  }

  /** The HMAC key for device secrets and API keys, made once per database. */
  private serverSecret(): Buffer {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'secret'").get() as { value: string } | undefined
    if (row !== undefined) return Buffer.from(row.value, 'hex')
    const fresh = randomBytes(32)
    this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)").run(fresh.toString('hex'))
    const won = this.db.prepare("SELECT value FROM meta WHERE key = 'secret'").get() as { value: string }
    return Buffer.from(won.value, 'hex')
  }

  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }

  private nowIso(): string {
    return new Date(this.now()).toISOString()
  }

  createDevice(input: NewDevice): { device: Device; credentials: Credentials } {
    if (!isApplianceType(input.type)) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `unknown appliance type ${String(input.type)}`)
    const warranty = { standardEnd: input.warranty.standardEnd, extended: input.warranty.extended ?? [] }
    const password = newPassword()
    const digest = keyedDigest(this.secret, Buffer.from(password, 'utf8')).toString('hex')
    const device = this.tx(() => {
      if (input.gatewayId !== undefined) this.checkGatewayUsable(input.gatewayId)
      const at = this.nowIso()
      let id = newDeviceId(input.type)
      while (this.s.device.get(id) !== undefined) id = newDeviceId(input.type)
      this.s.insertDevice.run(id, input.type, input.model, input.serial, input.region, input.installDate, JSON.stringify(warranty),
        input.ownerRef ?? null, input.gatewayId ?? null, at, digest)
      this.hist.append(id, at, 'device.provisioned', {
        type: input.type, model: input.model, serial: input.serial, region: input.region, installDate: input.installDate, warranty,
        ...(input.gatewayId !== undefined ? { gatewayId: input.gatewayId } : {}),
      })
      return this.getDevice(id) as Device
    })
    return { device, credentials: { username: device.id, password } }
  }

  getDevice(id: string): Device | null {
    const r = this.s.device.get(id) as DeviceRow | undefined
    return r === undefined ? null : toDevice(r)
  }

  listOnlineDevices(): Device[] {
    return (this.s.online.all() as DeviceRow[]).map(toDevice)
  }

  statusToken(ticketId: string): string {
    return statusToken(this.secret, ticketId)
  }

  ticketByStatusToken(token: string): TicketRecord | null {
    const id = openStatusToken(this.secret, token)
    if (id === null || this.db.prepare('SELECT 1 AS x FROM meta WHERE key = ?').get(revokedKey(id)) !== undefined) return null
    return this.getTicket(id)
  }

  revokeStatusLink(ticketId: string): void {
    if (this.getTicket(ticketId) === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${ticketId}`)
    this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run(revokedKey(ticketId), this.nowIso())
  }

  setPublicUrl(url: string): void {
    this.publicUrl = url
  }

  listDevices(opts: { limit: number; after?: string | undefined; type?: string | undefined; status?: ConnectionState | undefined }) {
    const limit = pageSize(opts.limit)
    const rows = this.s.listDevices.all({ after: decodeCursor(opts.after) ?? '', type: opts.type ?? null, status: opts.status ?? null, limit: limit + 1 }) as DeviceRow[]
    const items = rows.slice(0, limit).map(toDevice)
    const last = items.at(-1)
    return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null }
  }

  verifyDeviceCredentials(username: string, password: Buffer): Device | null {
    const r = this.s.device.get(username) as DeviceRow | undefined
    const digest = keyedDigest(this.secret, password)
    // Compare even for unknown users, so timing does not tell which device ids exist.
    const ok = digestEquals(digest, r?.secret_digest ?? '00'.repeat(32))
    if (r === undefined || !ok || r.revoked !== 0) return null
    return toDevice(r)
  }

  setConnection(id: string, state: ConnectionState, atMs: number): boolean {
    return this.s.setConnection.run(state, atMs, id).changes > 0
  }

  revokeDevice(id: string): Device {
    return this.tx(() => {
      const d = this.getDevice(id)
      if (d === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${id}`)
      if (!d.revoked) {
        this.s.revoke.run(id)
        this.hist.append(id, this.nowIso(), 'device.revoked', {})
      }
      return this.getDevice(id) as Device
    })
  }

  rotateCredentials(id: string): Credentials {
    const password = newPassword()
    const digest = keyedDigest(this.secret, Buffer.from(password, 'utf8')).toString('hex')
    this.tx(() => {
      const d = this.getDevice(id)
      if (d === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${id}`)
      if (d.revoked) throw new ForewarnError(ErrorCode.CONFLICT, `device ${id} is revoked`)
      this.s.setSecret.run(digest, id)
      this.hist.append(id, this.nowIso(), 'device.credentials_rotated', {})
    })
    return { username: id, password }
  }

  /** A device may be registered only behind a gateway that exists and is not revoked. */
  private checkGatewayUsable(gatewayId: string): void {
    const g = this.s.gateway.get(gatewayId) as GatewayRow | undefined
    if (g === undefined) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `no gateway ${gatewayId}: provision it first (POST /gateways)`)
    if (g.revoked !== 0) throw new ForewarnError(ErrorCode.CONFLICT, `gateway ${gatewayId} is revoked`)
  }

  createGateway(input: NewGateway): { gateway: Gateway; credentials: Credentials } {
    const password = newPassword()
    const digest = keyedDigest(this.secret, Buffer.from(password, 'utf8')).toString('hex')
    const gateway = this.tx(() => {
      let id = newGatewayId()
      while (this.s.gateway.get(id) !== undefined) id = newGatewayId()
      this.s.insertGateway.run(id, input.label, input.region ?? null, input.ownerRef ?? null, this.nowIso(), digest)
      return toGateway(this.s.gateway.get(id) as GatewayRow)
    })
    return { gateway, credentials: { username: gateway.id, password } }
  }

  getGateway(id: string): GatewayDetail | null {
    const r = this.s.gateway.get(id) as GatewayRow | undefined
    return r === undefined ? null : { ...toGateway(r), deviceIds: this.gatewayDeviceIds(id) }
  }

  private gatewayDeviceIds(id: string): string[] {
    return (this.s.gatewayDevices.all(id) as Array<{ id: string }>).map((r) => r.id)
  }

  listGateways(opts: { limit: number; after?: string | undefined }) {
    const limit = pageSize(opts.limit)
    const rows = this.s.listGateways.all(decodeCursor(opts.after) ?? '', limit + 1) as GatewayRow[]
    const items = rows.slice(0, limit).map(toGateway)
    const last = items.at(-1)
    return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null }
  }

  verifyGatewayCredentials(username: string, password: Buffer): GatewayIdentity | null {
    const r = this.s.gateway.get(username) as GatewayRow | undefined
    // Compare even for unknown users, so timing does not tell which gateway ids exist.
    const ok = digestEquals(keyedDigest(this.secret, password), r?.secret_digest ?? '00'.repeat(32))
    if (r === undefined || !ok || r.revoked !== 0) return null
    return { gateway: toGateway(r), deviceIds: this.gatewayDeviceIds(r.id) }
  }

  revokeGateway(id: string): Gateway {
    if (this.s.revokeGateway.run(id).changes === 0) throw new ForewarnError(ErrorCode.NOT_FOUND, `no gateway ${id}`)
    return toGateway(this.s.gateway.get(id) as GatewayRow)
  }

  rotateGatewayCredentials(id: string): Credentials {
    const password = newPassword()
    const digest = keyedDigest(this.secret, Buffer.from(password, 'utf8')).toString('hex')
    this.tx(() => {
      const g = this.s.gateway.get(id) as GatewayRow | undefined
      if (g === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no gateway ${id}`)
      if (g.revoked !== 0) throw new ForewarnError(ErrorCode.CONFLICT, `gateway ${id} is revoked`)
      this.s.setGatewaySecret.run(digest, id)
    })
    return { username: id, password }
  }

  saveHealth(deviceId: string, core: HealthCore): boolean {
    return this.s.saveHealth.run(JSON.stringify(core), this.now(), deviceId).changes > 0
  }

  touchDevices(items: Iterable<readonly [string, number]>): number {
    return this.tx(() => {
      let n = 0
      for (const [id, atMs] of items) n += this.s.touch.run(atMs, id).changes
      return n
    })
  }

  saveHealthBatch(items: Iterable<readonly [string, HealthCore]>): number {
    return this.tx(() => {
      let saved = 0
      for (const [id, core] of items) if (this.saveHealth(id, core)) saved++
      return saved
    })
  }

  private healthCore(deviceId: string): { core: HealthCore; updatedAt: number } | null {
    const r = this.s.health.get(deviceId) as { core: string; updated_at: number } | undefined
    return r === undefined ? null : { core: JSON.parse(r.core) as HealthCore, updatedAt: r.updated_at }
  }

  getHealthRecord(deviceId: string): HealthRecord | null {
    const device = this.getDevice(deviceId)
    if (device === null) return null
    const h = this.healthCore(deviceId)
    const active = this.events.listWarnings({ limit: 1000, deviceId, state: 'active' }).items
    const recent = (this.s.recentWarnings.all(deviceId, RECENT_WARNINGS) as Array<{ id: string }>)
      .map((r) => this.events.getWarning(r.id))
      .filter((w) => w !== null)
    return {
      device,
      status: healthStatus(device, h?.core ?? null, active.map((w) => w.severity)),
      health: h?.core ?? null,
      healthUpdatedAt: h === null ? null : new Date(h.updatedAt).toISOString(),
      activeWarnings: active,
      recentWarnings: recent,
      openTickets: (this.s.openTickets.all(deviceId) as Array<{ id: string }>).map((r) => r.id),
    }
  }

  applyDetectorEvent(ev: DetectorEvent, detectedAtMs: number) {
    return this.tx(() => this.events.apply(ev, detectedAtMs))
  }

  listWarnings(opts: Parameters<Store['listWarnings']>[0]) { return this.events.listWarnings(opts) }
  getWarning(id: string) { return this.events.getWarning(id) }
  listTickets(opts: Parameters<Store['listTickets']>[0]) { return this.events.listTickets(opts) }
  getTicket(id: string) { return this.events.getTicket(id) }
  transitionTicket(id: string, change: Parameters<Store['transitionTicket']>[1]) {
    const done = this.tx(() => this.events.transition(id, change))
    this.listeners.emit(done)
    return done.ticket
  }

  onTransition(listener: TicketChangeListener): () => void {
    return this.listeners.add(listener)
  }

  precision(opts?: Parameters<Store['precision']>[0]) { return this.events.precision(opts) }
  listOutbox(opts: Parameters<Store['listOutbox']>[0]) { return this.events.listOutbox(opts) }
  outboxPort(opts?: { leaseMs?: number }) { return sqliteOutboxPort(this.db, opts) }

  history(deviceId: string, opts: { limit: number; after?: string | undefined }) {
    if (this.getDevice(deviceId) === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${deviceId}`)
    return this.hist.list(deviceId, opts)
  }

  verifyHistory(deviceId: string) {
    const r = this.hist.verify(deviceId)
    if (r === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${deviceId}`)
    return r
  }

  ensureAdminKey(fromEnv?: string): { key: string | null } {
    if (fromEnv !== undefined && fromEnv !== '') {
      this.s.upsertKey.run(ADMIN_KEY_ID, this.keyDigest(fromEnv), JSON.stringify(['*']), 'admin (FOREWARN_ADMIN_KEY)', this.nowIso())
      return { key: null }
    }
    return this.tx(() => {
      if (this.s.keyById.get(ADMIN_KEY_ID) !== undefined) return { key: null }
      const key = newApiKey()
      this.s.upsertKey.run(ADMIN_KEY_ID, this.keyDigest(key), JSON.stringify(['*']), 'admin (generated)', this.nowIso())
      return { key }
    })
  }

  createApiKey(scopes: readonly Scope[], label = ''): { id: string; key: string } {
    const bad = scopes.filter((s) => !allScopes.includes(s))
    if (bad.length > 0 || scopes.length === 0) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `invalid scopes: ${bad.join(', ') || '(none)'}`)
    const id = newKeyId()
    const key = newApiKey()
    this.s.upsertKey.run(id, this.keyDigest(key), JSON.stringify([...new Set(scopes)]), label, this.nowIso())
    return { id, key }
  }

  private keyDigest(key: string): string {
    return keyedDigest(this.secret, key).toString('hex')
  }

  /** Look-up by keyed digest: an index hit on the digest reveals nothing about the key. */
  authenticateApiKey(key: string): ApiKeyIdentity | null {
    if (key.length === 0 || key.length > 256) return null
    const r = this.s.keyByDigest.get(this.keyDigest(key)) as { id: string; scopes: string } | undefined
    return r === undefined ? null : { id: r.id, scopes: JSON.parse(r.scopes) as ApiKeyIdentity['scopes'] }
  }

  listApiKeys(): ApiKeyInfo[] {
    return (this.s.listKeys.all() as KeyRow[]).map(toKeyInfo)
  }

  revokeApiKey(id: string): ApiKeyInfo {
    if (id === ADMIN_KEY_ID) throw new ForewarnError(ErrorCode.CONFLICT, 'the admin key cannot be revoked through the API; set a new FOREWARN_ADMIN_KEY')
    const r = this.s.keyInfo.get(id) as KeyRow | undefined
    if (r === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no API key ${id}`)
    this.s.revokeKey.run(id)
    return toKeyInfo({ ...r, revoked: 1 })
  }

  getTypeModels(type: string): string | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(`models:${type}`) as { value: string } | undefined
    return row?.value ?? null
  }

  saveTypeModels(type: string, json: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(`models:${type}`, json)
  }

  counts(): StoreCounts {
    const r = this.s.counts.get() as StoreCounts
    return {
      devices: r.devices, online: r.online, activeWarnings: r.activeWarnings, tickets: r.tickets, openTickets: r.openTickets,
      pendingDeliveries: r.pendingDeliveries, deadDeliveries: r.deadDeliveries,
    }
  }

  ping(): boolean {
    try {
      return (this.s.ping.get() as { ok: number } | undefined)?.ok === 1
    } catch {
      return false
    }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

interface KeyRow { id: string; label: string; scopes: string; created_at: string; revoked: number }
const toKeyInfo = (r: KeyRow): ApiKeyInfo => ({
  id: r.id, label: r.label, scopes: JSON.parse(r.scopes) as ApiKeyInfo['scopes'], createdAt: r.created_at, revoked: r.revoked !== 0,
})

const severityStatus: Readonly<Record<Severity, HealthStatus>> = { watch: 'watch', warning: 'warning', critical: 'critical' }
const statusRank: Readonly<Record<HealthStatus, number>> = { healthy: 0, watch: 1, warning: 2, critical: 3, offline: 4 }

/** Offline wins (it is shown, not mistaken for a fault); otherwise the worse of detector and active warnings. */
export function healthStatus(device: Pick<Device, 'connection'>, core: HealthCore | null, active: readonly Severity[]): HealthStatus {
  if (device.connection === 'offline') return 'offline'
  let status: HealthStatus = core === null || core.status === 'offline' ? 'healthy' : core.status
  for (const s of active) {
    const w = severityStatus[s]
    if (statusRank[w] > statusRank[status]) status = w
  }
  return status
}

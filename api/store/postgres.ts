/**
 * The production records store: PostgreSQL (a `DATABASE_URL`) behind the same contract as the
 * embedded store (test/api/store.contract.ts runs against both). Every method returns a Promise.
 *
 * Transactions run at READ COMMITTED with the device row locked (`SELECT … FOR UPDATE`) wherever a
 * change must be idempotent or append to the device's hash chain; see ./postgres-events.ts. A
 * transaction that still loses a race (serialization failure, deadlock) is retried a few times.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { ErrorCode, ForewarnError, isApplianceType } from '../../domain/index.ts'
import type { ConnectionState, Device, DetectorEvent, HealthCore } from '../../domain/index.ts'
import { allScopes } from '../schemas.ts'
import { defaultTicketPolicy, parseTicketPolicy } from '../ticket-policy.ts'
import { decodeCursor, encodeCursor, pageSize } from './cursor.ts'
import { isTransientStoreFailure } from './errors.ts'
import { digestEquals, keyedDigest, newApiKey, newDeviceId, newGatewayId, newKeyId, newPassword } from './ids.ts'
import type { AsyncRecordsStore } from './open.ts'
import { FEED } from './outbox.ts'
import { PgEvents, getTicket, getWarning, listOutbox, listTickets, listWarnings, lockDevice, precision } from './postgres-events.ts'
import { appendHistory, listHistory, verifyHistory } from './postgres-history.ts'
import { migratePostgres } from './postgres-migrations.ts'
import { postgresOutboxPort } from './postgres-outbox.ts'
import { toDevice, toGateway, type DeviceRow, type GatewayRow } from './rows.ts'
import { healthStatus } from './sqlite.ts'
import type {
  ApiKeyIdentity, ApiKeyInfo, ApplyResult, Credentials, Gateway, GatewayDetail, GatewayIdentity, HealthRecord, NewDevice, NewGateway, Page, Scope,
  Store, StoreCounts, StoreOptions, TicketChangeListener, TicketRecord, TicketTransition,
} from './types.ts'
import { TicketChangeListeners } from './listeners.ts'
import { openStatusToken, revokedKey, statusToken } from './status-link.ts'

export interface PostgresStoreOptions extends Omit<StoreOptions, 'dataDir'> {
  /** postgres://user:password@host:port/database */
  databaseUrl: string
  /** Connections in the pool. */
  poolSize?: number | undefined
  /** Errors of idle pooled connections (a restarted server); they are otherwise dropped. */
  onIdleError?: ((err: Error) => void) | undefined
}

const ADMIN_KEY_ID = 'admin'
const RECENT_WARNINGS = 10
const TX_ATTEMPTS = 4

// BIGINT (epoch milliseconds, counts, sequence numbers) as numbers, for this pool only; every such
// value stays far below 2^53.
const INT8_OID = 20
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<AsyncRecordsStore> {
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10, types })
  pool.on('error', (err) => opts.onIdleError?.(err))
  // A connection that breaks while checked out (the server stopped between two statements of a
  // transaction) emits 'error' with no pool listener attached, which would crash the process; its
  // next statement fails anyway, classified retriable, and that is where it is handled.
  pool.on('connect', (client) => client.on('error', () => undefined))
  try {
    const c = await pool.connect()
    try {
      await migratePostgres(c)
    } finally {
      c.release()
    }
    const secret = await serverSecret(pool)
    return new PostgresStore(pool, secret, opts)
  } catch (cause) {
    await pool.end().catch(() => {})
    throw new ForewarnError(ErrorCode.STORE, `cannot open the PostgreSQL store: ${(cause as Error).message}`, { cause, retriable: isTransient(cause) })
  }
}

/** The HMAC key for device secrets and API keys, made once per database. */
async function serverSecret(pool: pg.Pool): Promise<Buffer> {
  await pool.query("INSERT INTO meta (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING", [randomBytes(32).toString('hex')])
  const r = await pool.query<{ value: string }>("SELECT value FROM meta WHERE key = 'secret'")
  return Buffer.from(r.rows[0]!.value, 'hex')
}

/** Connection loss, server shutdown, lost races, exhausted resources: worth trying again (./errors.ts). */
const isTransient = isTransientStoreFailure

/** ForewarnErrors pass; database errors become STORE errors with the cause kept. */
function storeError(err: unknown): ForewarnError {
  if (err instanceof ForewarnError) return err
  return new ForewarnError(ErrorCode.STORE, `PostgreSQL store: ${(err as Error).message}`, { cause: err, retriable: isTransient(err) })
}

const isRace = (err: unknown): boolean => ['40001', '40P01'].includes(String((err as { code?: unknown } | null)?.code))

class PostgresStore implements AsyncRecordsStore {
  private readonly now: () => number
  private readonly events: PgEvents
  private publicUrl: string
  private closed = false
  private readonly listeners = new TicketChangeListeners()

  constructor(private readonly pool: pg.Pool, private readonly secret: Buffer, opts: PostgresStoreOptions) {
    this.now = opts.now ?? Date.now
    this.publicUrl = opts.publicUrl ?? ''
    this.events = new PgEvents({
      policy: opts.ticketPolicy === undefined ? defaultTicketPolicy : parseTicketPolicy(opts.ticketPolicy),
      now: this.now,
      publicUrl: () => this.publicUrl,
      statusToken: (id) => statusToken(this.secret, id),
      adapters: [...new Set(opts.deliveryAdapters ?? [])].filter((a) => a !== FEED),
    })
  }

  /** One transaction on one pooled connection; retried when it lost a race (serialization, deadlock). */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let c: pg.PoolClient
      try {
        c = await this.pool.connect()
      } catch (err) {
        throw storeError(err)
      }
      let broken = false
      try {
        await c.query(begin)
        const out = await fn(c)
        await c.query('COMMIT')
        return out
      } catch (err) {
        try {
          await c.query('ROLLBACK')
        } catch {
          broken = true
        }
        if (isRace(err) && attempt < TX_ATTEMPTS) continue
        throw storeError(err)
      } finally {
        c.release(broken)
      }
    }
  }

  /** A single statement outside a transaction. */
  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params)
    } catch (err) {
      throw storeError(err)
    }
  }

  private nowIso(): string {
    return new Date(this.now()).toISOString()
  }

  private digest(value: Buffer | string): string {
    return keyedDigest(this.secret, value).toString('hex')
  }

  async createDevice(input: NewDevice): Promise<{ device: Device; credentials: Credentials }> {
    if (!isApplianceType(input.type)) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `unknown appliance type ${String(input.type)}`)
    const warranty = { standardEnd: input.warranty.standardEnd, extended: input.warranty.extended ?? [] }
    const password = newPassword()
    const digest = this.digest(Buffer.from(password, 'utf8'))
    const device = await this.tx(async (c) => {
      // FOR SHARE: a revocation of the gateway waits for this device to be committed, or wins first.
      if (input.gatewayId !== undefined) gatewayUsable(input.gatewayId, (await c.query<GatewayRow>('SELECT * FROM gateways WHERE id = $1 FOR SHARE', [input.gatewayId])).rows[0])
      const at = this.nowIso()
      // 60 random bits per id: a collision is all but impossible, and bounded retries cover it.
      for (let tries = 0; tries < 5; tries++) {
        const id = newDeviceId(input.type)
        const r = await c.query<DeviceRow>(`INSERT INTO devices (id, type, model, serial, region, install_date, warranty, owner_ref, gateway_id, created_at, secret_digest)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING RETURNING *`,
        [id, input.type, input.model, input.serial, input.region, input.installDate, JSON.stringify(warranty), input.ownerRef ?? null, input.gatewayId ?? null, at, digest])
        if (r.rows[0] === undefined) continue
        await appendHistory(c, id, at, 'device.provisioned', {
          type: input.type, model: input.model, serial: input.serial, region: input.region, installDate: input.installDate, warranty,
          ...(input.gatewayId !== undefined ? { gatewayId: input.gatewayId } : {}),
        })
        return toDevice(r.rows[0])
      }
      throw new ForewarnError(ErrorCode.INTERNAL, 'could not find a free device id')
    })
    return { device, credentials: { username: device.id, password } }
  }

  async getDevice(id: string): Promise<Device | null> {
    const r = await this.q<DeviceRow>('SELECT * FROM devices WHERE id = $1', [id])
    return r.rows[0] === undefined ? null : toDevice(r.rows[0])
  }

  async listOnlineDevices(): Promise<Device[]> {
    return (await this.q<DeviceRow>("SELECT * FROM devices WHERE connection = 'online' ORDER BY id")).rows.map(toDevice)
  }

  async statusToken(ticketId: string): Promise<string> {
    return statusToken(this.secret, ticketId)
  }

  async ticketByStatusToken(token: string): Promise<TicketRecord | null> {
    const id = openStatusToken(this.secret, token)
    if (id === null || (await this.pool.query('SELECT 1 FROM meta WHERE key = $1', [revokedKey(id)])).rowCount !== 0) return null
    return this.getTicket(id)
  }

  async revokeStatusLink(ticketId: string): Promise<void> {
    if ((await this.getTicket(ticketId)) === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${ticketId}`)
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [revokedKey(ticketId), new Date(this.now()).toISOString()])
  }

  setPublicUrl(url: string): void {
    this.publicUrl = url
  }

  async listDevices(opts: { limit: number; after?: string | undefined; type?: string | undefined; status?: ConnectionState | undefined }): Promise<Page<Device>> {
    const limit = pageSize(opts.limit)
    const { rows } = await this.q<DeviceRow>(`SELECT * FROM devices WHERE id > $1 AND ($2::text IS NULL OR type = $2)
      AND ($3::text IS NULL OR connection = $3) ORDER BY id LIMIT $4`, [decodeCursor(opts.after) ?? '', opts.type ?? null, opts.status ?? null, limit + 1])
    const items = rows.slice(0, limit).map(toDevice)
    const last = items.at(-1)
    return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null }
  }

  async verifyDeviceCredentials(username: string, password: Buffer): Promise<Device | null> {
    const r = (await this.q<DeviceRow>('SELECT * FROM devices WHERE id = $1', [username])).rows[0]
    // Compare even for unknown users, so timing does not tell which device ids exist.
    const ok = digestEquals(keyedDigest(this.secret, password), r?.secret_digest ?? '00'.repeat(32))
    if (r === undefined || !ok || r.revoked !== 0) return null
    return toDevice(r)
  }

  async touchDevices(items: Iterable<readonly [string, number]>): Promise<number> {
    const list = [...items]
    if (list.length === 0) return 0
    const r = await this.q(`UPDATE devices d SET last_seen = greatest(coalesce(d.last_seen, 0), t.at)
      FROM unnest($1::text[], $2::bigint[]) AS t(id, at) WHERE d.id = t.id`, [list.map((x) => x[0]), list.map((x) => x[1])])
    return r.rowCount ?? 0
  }

  async setConnection(id: string, state: ConnectionState, atMs: number): Promise<boolean> {
    const r = await this.q('UPDATE devices SET connection = $1, last_seen = greatest(coalesce(last_seen, 0), $2) WHERE id = $3', [state, atMs, id])
    return (r.rowCount ?? 0) > 0
  }

  async revokeDevice(id: string): Promise<Device> {
    return this.tx(async (c) => {
      const d = await lockDevice(c, id)
      if (d === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${id}`)
      if (d.revoked) return d
      const r = await c.query<DeviceRow>('UPDATE devices SET revoked = 1 WHERE id = $1 RETURNING *', [id])
      await appendHistory(c, id, this.nowIso(), 'device.revoked', {})
      return toDevice(r.rows[0]!)
    })
  }

  async rotateCredentials(id: string): Promise<Credentials> {
    const password = newPassword()
    const digest = this.digest(Buffer.from(password, 'utf8'))
    await this.tx(async (c) => {
      const d = await lockDevice(c, id)
      if (d === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${id}`)
      if (d.revoked) throw new ForewarnError(ErrorCode.CONFLICT, `device ${id} is revoked`)
      await c.query('UPDATE devices SET secret_digest = $1 WHERE id = $2', [digest, id])
      await appendHistory(c, id, this.nowIso(), 'device.credentials_rotated', {})
    })
    return { username: id, password }
  }

  async createGateway(input: NewGateway): Promise<{ gateway: Gateway; credentials: Credentials }> {
    const password = newPassword()
    const digest = this.digest(Buffer.from(password, 'utf8'))
    for (let tries = 0; tries < 5; tries++) {
      const r = await this.q<GatewayRow>(`INSERT INTO gateways (id, label, region, owner_ref, created_at, secret_digest) VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO NOTHING RETURNING *`, [newGatewayId(), input.label, input.region ?? null, input.ownerRef ?? null, this.nowIso(), digest])
      const row = r.rows[0]
      if (row !== undefined) return { gateway: toGateway(row), credentials: { username: row.id, password } }
    }
    throw new ForewarnError(ErrorCode.INTERNAL, 'could not find a free gateway id')
  }

  async getGateway(id: string): Promise<GatewayDetail | null> {
    return this.tx(async (c) => {
      const r = (await c.query<GatewayRow>('SELECT * FROM gateways WHERE id = $1', [id])).rows[0]
      return r === undefined ? null : { ...toGateway(r), deviceIds: await gatewayDeviceIds(c, id) }
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
  }

  async listGateways(opts: { limit: number; after?: string | undefined }): Promise<Page<Gateway>> {
    const limit = pageSize(opts.limit)
    const { rows } = await this.q<GatewayRow>('SELECT * FROM gateways WHERE id > $1 ORDER BY id LIMIT $2', [decodeCursor(opts.after) ?? '', limit + 1])
    const items = rows.slice(0, limit).map(toGateway)
    const last = items.at(-1)
    return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null }
  }

  async verifyGatewayCredentials(username: string, password: Buffer): Promise<GatewayIdentity | null> {
    const r = (await this.q<GatewayRow>('SELECT * FROM gateways WHERE id = $1', [username])).rows[0]
    // Compare even for unknown users, so timing does not tell which gateway ids exist.
    const ok = digestEquals(keyedDigest(this.secret, password), r?.secret_digest ?? '00'.repeat(32))
    if (r === undefined || !ok || r.revoked !== 0) return null
    return { gateway: toGateway(r), deviceIds: await gatewayDeviceIds(this.pool, r.id).catch((e: unknown) => { throw storeError(e) }) }
  }

  async revokeGateway(id: string): Promise<Gateway> {
    const r = (await this.q<GatewayRow>('UPDATE gateways SET revoked = 1 WHERE id = $1 RETURNING *', [id])).rows[0]
    if (r === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no gateway ${id}`)
    return toGateway(r)
  }

  async rotateGatewayCredentials(id: string): Promise<Credentials> {
    const password = newPassword()
    const digest = this.digest(Buffer.from(password, 'utf8'))
    await this.tx(async (c) => {
      const g = (await c.query<GatewayRow>('SELECT * FROM gateways WHERE id = $1 FOR UPDATE', [id])).rows[0]
      if (g === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no gateway ${id}`)
      if (g.revoked !== 0) throw new ForewarnError(ErrorCode.CONFLICT, `gateway ${id} is revoked`)
      await c.query('UPDATE gateways SET secret_digest = $1 WHERE id = $2', [digest, id])
    })
    return { username: id, password }
  }

  async saveHealth(deviceId: string, core: HealthCore): Promise<boolean> {
    return (await this.saveHealthBatch([[deviceId, core]])) === 1
  }

  /**
   * One statement for the whole batch. A device named twice keeps its last record (an upsert may
   * not touch a row twice) and, as in the embedded store, counts once per mention.
   */
  async saveHealthBatch(items: Iterable<readonly [string, HealthCore]>): Promise<number> {
    const list = [...items]
    const last = new Map<string, string>()
    for (const [id, core] of list) last.set(id, JSON.stringify(core))
    if (last.size === 0) return 0
    const r = await this.q<{ device_id: string }>(`INSERT INTO health (device_id, core, updated_at)
      SELECT d.id, x.core, $3 FROM unnest($1::text[], $2::text[]) AS x(id, core) JOIN devices d ON d.id = x.id
      ON CONFLICT (device_id) DO UPDATE SET core = excluded.core, updated_at = excluded.updated_at RETURNING device_id`,
    [[...last.keys()], [...last.values()], this.now()])
    const saved = new Set(r.rows.map((row) => row.device_id))
    return list.filter(([id]) => saved.has(id)).length
  }

  async getHealthRecord(deviceId: string): Promise<HealthRecord | null> {
    return this.tx(async (c) => {
      const d = (await c.query<DeviceRow>('SELECT * FROM devices WHERE id = $1', [deviceId])).rows[0]
      if (d === undefined) return null
      const device = toDevice(d)
      const h = (await c.query<{ core: string; updated_at: number }>('SELECT core, updated_at FROM health WHERE device_id = $1', [deviceId])).rows[0]
      const core = h === undefined ? null : (JSON.parse(h.core) as HealthCore)
      const active = (await listWarnings(c, { limit: 1000, deviceId, state: 'active' })).items
      const recentIds = (await c.query<{ id: string }>("SELECT id FROM warnings WHERE device_id = $1 AND state = 'cleared' ORDER BY n DESC LIMIT $2",
        [deviceId, RECENT_WARNINGS])).rows
      const recent = []
      for (const r of recentIds) {
        const w = await getWarning(c, r.id)
        if (w !== null) recent.push(w)
      }
      const open = await c.query<{ id: string }>("SELECT id FROM tickets WHERE device_id = $1 AND state NOT IN ('resolved', 'cancelled') ORDER BY n", [deviceId])
      return {
        device,
        status: healthStatus(device, core, active.map((w) => w.severity)),
        health: core,
        healthUpdatedAt: h === undefined ? null : new Date(h.updated_at).toISOString(),
        activeWarnings: active,
        recentWarnings: recent,
        openTickets: open.rows.map((r) => r.id),
      }
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
  }

  async applyDetectorEvent(ev: DetectorEvent, detectedAtMs: number): Promise<ApplyResult> {
    return this.tx((c) => this.events.apply(c, ev, detectedAtMs))
  }

  async listWarnings(opts: Parameters<Store['listWarnings']>[0]) { return listWarnings(this.pool, opts).catch((e: unknown) => { throw storeError(e) }) }
  async getWarning(id: string) { return getWarning(this.pool, id).catch((e: unknown) => { throw storeError(e) }) }
  async listTickets(opts: Parameters<Store['listTickets']>[0]) { return listTickets(this.pool, opts).catch((e: unknown) => { throw storeError(e) }) }
  async getTicket(id: string) { return getTicket(this.pool, id).catch((e: unknown) => { throw storeError(e) }) }
  async listOutbox(opts: Parameters<Store['listOutbox']>[0]) { return listOutbox(this.pool, opts).catch((e: unknown) => { throw storeError(e) }) }

  async transitionTicket(id: string, change: TicketTransition) {
    const done = await this.tx((c) => this.events.transition(c, id, change))
    this.listeners.emit(done)
    return done.ticket
  }

  onTransition(listener: TicketChangeListener): () => void {
    return this.listeners.add(listener)
  }

  async precision(opts?: Parameters<Store['precision']>[0]) { return precision(this.pool, opts).catch((e: unknown) => { throw storeError(e) }) }

  outboxPort(opts?: { leaseMs?: number }) {
    return postgresOutboxPort(this.pool, opts)
  }

  async history(deviceId: string, opts: { limit: number; after?: string | undefined }) {
    if ((await this.getDevice(deviceId)) === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${deviceId}`)
    return listHistory(this.pool, deviceId, opts).catch((e: unknown) => { throw storeError(e) })
  }

  async verifyHistory(deviceId: string) {
    const c = await this.pool.connect().catch((e: unknown) => { throw storeError(e) })
    try {
      const r = await verifyHistory(c, deviceId)
      if (r === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${deviceId}`)
      return r
    } catch (err) {
      throw storeError(err)
    } finally {
      c.release()
    }
  }

  async ensureAdminKey(fromEnv?: string): Promise<{ key: string | null }> {
    if (fromEnv !== undefined && fromEnv !== '') {
      await this.q(`INSERT INTO api_keys (id, digest, scopes, label, created_at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, scopes = excluded.scopes, revoked = 0`,
      [ADMIN_KEY_ID, this.digest(fromEnv), JSON.stringify(['*']), 'admin (FOREWARN_ADMIN_KEY)', this.nowIso()])
      return { key: null }
    }
    // Two instances starting at once: one insert wins, the other learns there is a key already.
    const key = newApiKey()
    const r = await this.q(`INSERT INTO api_keys (id, digest, scopes, label, created_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (id) DO NOTHING`, [ADMIN_KEY_ID, this.digest(key), JSON.stringify(['*']), 'admin (generated)', this.nowIso()])
    return { key: r.rowCount === 1 ? key : null }
  }

  async createApiKey(scopes: readonly Scope[], label = ''): Promise<{ id: string; key: string }> {
    const bad = scopes.filter((s) => !allScopes.includes(s))
    if (bad.length > 0 || scopes.length === 0) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `invalid scopes: ${bad.join(', ') || '(none)'}`)
    const id = newKeyId()
    const key = newApiKey()
    await this.q('INSERT INTO api_keys (id, digest, scopes, label, created_at) VALUES ($1, $2, $3, $4, $5)',
      [id, this.digest(key), JSON.stringify([...new Set(scopes)]), label, this.nowIso()])
    return { id, key }
  }

  /** Look-up by keyed digest: an index hit on the digest reveals nothing about the key. */
  async authenticateApiKey(key: string): Promise<ApiKeyIdentity | null> {
    if (key.length === 0 || key.length > 256) return null
    const r = (await this.q<{ id: string; scopes: string }>('SELECT id, scopes FROM api_keys WHERE digest = $1 AND revoked = 0', [this.digest(key)])).rows[0]
    return r === undefined ? null : { id: r.id, scopes: JSON.parse(r.scopes) as ApiKeyIdentity['scopes'] }
  }

  async listApiKeys(): Promise<ApiKeyInfo[]> {
    return (await this.q<KeyRow>('SELECT id, label, scopes, created_at, revoked FROM api_keys ORDER BY created_at, id')).rows.map(toKeyInfo)
  }

  async revokeApiKey(id: string): Promise<ApiKeyInfo> {
    if (id === ADMIN_KEY_ID) throw new ForewarnError(ErrorCode.CONFLICT, 'the admin key cannot be revoked through the API; set a new FOREWARN_ADMIN_KEY')
    const r = (await this.q<KeyRow>('UPDATE api_keys SET revoked = 1 WHERE id = $1 RETURNING id, label, scopes, created_at, revoked', [id])).rows[0]
    if (r === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no API key ${id}`)
    return toKeyInfo(r)
  }

  async getTypeModels(type: string): Promise<string | null> {
    const r = await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [`models:${type}`])
    return r.rows[0]?.value ?? null
  }

  async saveTypeModels(type: string, json: string): Promise<void> {
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [`models:${type}`, json])
  }

  async counts(): Promise<StoreCounts> {
    const r = await this.q<StoreCounts>(`SELECT (SELECT count(*) FROM devices) AS devices,
      (SELECT count(*) FROM devices WHERE connection = 'online') AS online,
      (SELECT count(*) FROM warnings WHERE state = 'active') AS "activeWarnings",
      (SELECT count(*) FROM tickets) AS tickets,
      (SELECT count(*) FROM tickets WHERE state NOT IN ('resolved', 'cancelled')) AS "openTickets",
      (SELECT count(*) FROM outbox WHERE state = 'pending' AND adapter != 'feed') AS "pendingDeliveries",
      (SELECT count(*) FROM outbox WHERE state = 'dead') AS "deadDeliveries"`)
    const c = r.rows[0]!
    return {
      devices: Number(c.devices), online: Number(c.online), activeWarnings: Number(c.activeWarnings), tickets: Number(c.tickets), openTickets: Number(c.openTickets),
      pendingDeliveries: Number(c.pendingDeliveries), deadDeliveries: Number(c.deadDeliveries),
    }
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.pool.query<{ ok: number }>('SELECT 1 AS ok')).rows[0]?.ok === 1
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end()
  }
}

/** A device may be registered only behind a gateway that exists and is not revoked. */
function gatewayUsable(gatewayId: string, row: GatewayRow | undefined): void {
  if (row === undefined) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `no gateway ${gatewayId}: provision it first (POST /gateways)`)
  if (row.revoked !== 0) throw new ForewarnError(ErrorCode.CONFLICT, `gateway ${gatewayId} is revoked`)
}

async function gatewayDeviceIds(c: pg.Pool | pg.ClientBase, gatewayId: string): Promise<string[]> {
  return (await c.query<{ id: string }>('SELECT id FROM devices WHERE gateway_id = $1 AND revoked = 0 ORDER BY id', [gatewayId])).rows.map((r) => r.id)
}

interface KeyRow { id: string; label: string; scopes: string; created_at: string; revoked: number }
const toKeyInfo = (r: KeyRow): ApiKeyInfo => ({
  id: r.id, label: r.label, scopes: JSON.parse(r.scopes) as ApiKeyInfo['scopes'], createdAt: r.created_at, revoked: r.revoked !== 0,
})

/**
 * The records store, written once: every operation is a `Work` (./run.ts) that the SQLite runner
 * (./sqlite.ts) answers synchronously and the PostgreSQL runner (./postgres.ts) asynchronously.
 * Statements are Kysely queries compiled at set-up for the store's dialect (./dialect.ts).
 */
import { randomBytes } from 'node:crypto'
import { sql, type RawBuilder } from 'kysely'
import { ErrorCode, ForewarnError, isApplianceType } from '../../domain/index.ts'
import type { ConnectionState, Device, DetectorEvent, HealthCore, HealthStatus, Severity } from '../../domain/index.ts'
import { allScopes } from '../schemas.ts'
import { defaultTicketPolicy, parseTicketPolicy } from '../ticket-policy.ts'
import { decodeCursor, encodeCursor, pageSize } from './cursor.ts'
import type { Dialect } from './dialect.ts'
import { Events } from './events.ts'
import { appendHistory, historyStatements, listHistory, verifyHistory } from './history.ts'
import { digestEquals, keyedDigest, newApiKey, newDeviceId, newGatewayId, newKeyId, newPassword } from './ids.ts'
import { FEED, outboxWork } from './outbox.ts'
import { TicketChangeListeners } from './listeners.ts'
import { toDevice, toGateway, type GatewayRow } from './rows.ts'
import { openStatusToken, revokedKey, statusToken } from './status-link.ts'
import { change, first, op, prepare, rows, single, snapshot, write, type Op, type Steps, type Work } from './run.ts'
import type {
  ApiKeyIdentity, ApiKeyInfo, ApplyResult, Credentials, Gateway, GatewayDetail, GatewayIdentity, HealthRecord, HistoryEntry, NewDevice, NewGateway, Page,
  PageOptions, PrecisionRow, Scope, Store, StoreCounts, StoreOptions, StoredWarning, TicketChange, TicketRecord, TicketTransition, VerifyResult,
  BucketMeans, StoredBucket, WindowBucket, WindowShape,
} from './types.ts'

const ADMIN_KEY_ID = 'admin'
/** meta: the recent-telemetry window's bucket width (ms) its rows were written with. */
const WINDOW_WIDTH_KEY = 'telemetry-window-width'
const RECENT_WARNINGS = 10
/** Rows per multi-row statement: far below either database's limit on bound values. */
const BATCH_ROWS = 500

function statements(d: Dialect) {
  const db = d.db
  return {
    device: prepare((p: { id: string }) => db.selectFrom('devices').selectAll().where('id', '=', p.id)),
    lockDevice: prepare((p: { id: string }) => d.lock(db.selectFrom('devices').selectAll().where('id', '=', p.id), 'update')),
    insertDevice: prepare((p: {
      id: string; type: string; model: string; serial: string; region: string; installDate: string; warranty: string; ownerRef: string | null
      gatewayId: string | null; at: string; digest: string
    }) => db.insertInto('devices').values({
      id: p.id, type: p.type, model: p.model, serial: p.serial, region: p.region, install_date: p.installDate, warranty: p.warranty,
      owner_ref: p.ownerRef, gateway_id: p.gatewayId, created_at: p.at, secret_digest: p.digest,
    }).onConflict((oc) => oc.column('id').doNothing()).returningAll()),
    online: prepare(() => db.selectFrom('devices').selectAll().where('connection', '=', sql.lit('online')).orderBy('id')),
    listDevices: prepare((p: { after: string; type: string | null; status: string | null; limit: number }) => db.selectFrom('devices').selectAll()
      .where('id', '>', p.after).where((eb) => eb('type', '=', eb.fn.coalesce(eb.val(p.type), eb.ref('type'))))
      .where((eb) => eb('connection', '=', eb.fn.coalesce(eb.val(p.status), eb.ref('connection')))).orderBy('id').limit(p.limit)),
    setConnection: prepare((p: { id: string; state: string; atMs: number }) => db.updateTable('devices')
      .set((eb) => ({ connection: p.state, last_seen: d.greatest(eb.fn.coalesce('last_seen', sql.lit(0)), eb.val(p.atMs)) })).where('id', '=', p.id)),
    revoke: prepare((p: { id: string }) => db.updateTable('devices').set({ revoked: 1 }).where('id', '=', p.id)),
    setSecret: prepare((p: { id: string; digest: string }) => db.updateTable('devices').set({ secret_digest: p.digest }).where('id', '=', p.id)),
    // Only for a known device: the health row references it.
    saveHealth: prepare((p: { id: string; core: string; status: string; at: number }) => db.insertInto('health').columns(['device_id', 'core', 'status', 'updated_at'])
      .expression(db.selectFrom('devices').select((eb) => ['id', eb.val(p.core).as('core'), eb.val(p.status).as('status'), eb.cast<number>(eb.val(p.at), 'bigint').as('at')])
        .where('id', '=', p.id))
      .onConflict((oc) => oc.column('device_id').doUpdateSet((eb) => ({ core: eb.ref('excluded.core'), status: eb.ref('excluded.status'), updated_at: eb.ref('excluded.updated_at') })))),
    health: prepare((p: { id: string }) => db.selectFrom('health').select(['core', 'updated_at']).where('device_id', '=', p.id)),
    allHealth: prepare(() => db.selectFrom('devices').leftJoin('health', 'health.device_id', 'devices.id')
      // The record itself only where the status column is empty (see healthStatuses).
      .select((eb) => ['devices.id as id', 'devices.connection as connection', 'health.status as status',
        eb.case().when('health.status', 'is', null).then(eb.ref('health.core')).end().as('core')])),
    activeSeverities: prepare(() => db.selectFrom('warnings').select(['device_id', 'severity']).where('state', '=', 'active')),
    // Rows of another bucket width: left by a window that was resized (see addToWindow).
    dropWindowWidths: prepare((p: { width: number }) => db.deleteFrom('telemetry_window').where('width_ms', '<>', p.width)),
    window: prepare((p: { id: string; limit: number }) => db.selectFrom('telemetry_window').select(['bucket_ms', 'width_ms', 'means'])
      .where('device_id', '=', p.id).orderBy('bucket_ms', 'desc').limit(p.limit)),
    recentWarnings: prepare((p: { id: string; limit: number }) => db.selectFrom('warnings').select('id')
      .where('device_id', '=', p.id).where('state', '=', 'cleared').orderBy('n', 'desc').limit(p.limit)),
    openTickets: prepare((p: { id: string }) => db.selectFrom('tickets').select('id')
      .where('device_id', '=', p.id).where('state', 'not in', ['resolved', 'cancelled']).orderBy('n')),
    keyByDigest: prepare((p: { digest: string }) => db.selectFrom('api_keys').select(['id', 'scopes']).where('digest', '=', p.digest).where('revoked', '=', 0)),
    listKeys: prepare(() => db.selectFrom('api_keys').select(['id', 'label', 'scopes', 'created_at', 'revoked']).orderBy('created_at').orderBy('id')),
    revokeKey: prepare((p: { id: string }) => db.updateTable('api_keys').set({ revoked: 1 }).where('id', '=', p.id)
      .returning(['id', 'label', 'scopes', 'created_at', 'revoked'])),
    insertKey: prepare((p: { id: string; digest: string; scopes: string; label: string; at: string }) => db.insertInto('api_keys')
      .values({ id: p.id, digest: p.digest, scopes: p.scopes, label: p.label, created_at: p.at }).onConflict((oc) => oc.column('id').doNothing())),
    upsertKey: prepare((p: { id: string; digest: string; scopes: string; label: string; at: string }) => db.insertInto('api_keys')
      .values({ id: p.id, digest: p.digest, scopes: p.scopes, label: p.label, created_at: p.at })
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ digest: eb.ref('excluded.digest'), scopes: eb.ref('excluded.scopes'), revoked: 0 })))),
    counts: prepare(() => db.selectNoFrom((eb) => [
      eb.selectFrom('devices').select(eb.fn.countAll<number>().as('c')).as('devices'),
      eb.selectFrom('devices').select(eb.fn.countAll<number>().as('c')).where('connection', '=', 'online').as('online'),
      eb.selectFrom('warnings').select(eb.fn.countAll<number>().as('c')).where('state', '=', 'active').as('activeWarnings'),
      eb.selectFrom('tickets').select(eb.fn.countAll<number>().as('c')).as('tickets'),
      eb.selectFrom('tickets').select(eb.fn.countAll<number>().as('c')).where('state', 'not in', ['resolved', 'cancelled']).as('openTickets'),
      eb.selectFrom('outbox').select(eb.fn.countAll<number>().as('c')).where('state', '=', 'pending').where('adapter', '!=', FEED).as('pendingDeliveries'),
      eb.selectFrom('outbox').select(eb.fn.countAll<number>().as('c')).where('state', '=', 'dead').as('deadDeliveries'),
    ])),
    ping: prepare(() => db.selectNoFrom(sql<number>`1`.as('ok'))),
    gateway: prepare((p: { id: string }) => db.selectFrom('gateways').selectAll().where('id', '=', p.id)),
    lockGateway: prepare((p: { id: string }) => d.lock(db.selectFrom('gateways').selectAll().where('id', '=', p.id), 'update')),
    // FOR SHARE: a revocation of the gateway waits for the device being registered, or wins first.
    shareGateway: prepare((p: { id: string }) => d.lock(db.selectFrom('gateways').selectAll().where('id', '=', p.id), 'share')),
    insertGateway: prepare((p: { id: string; label: string; region: string | null; ownerRef: string | null; at: string; digest: string }) => db.insertInto('gateways')
      .values({ id: p.id, label: p.label, region: p.region, owner_ref: p.ownerRef, created_at: p.at, secret_digest: p.digest })
      .onConflict((oc) => oc.column('id').doNothing()).returningAll()),
    listGateways: prepare((p: { after: string; limit: number }) => db.selectFrom('gateways').selectAll().where('id', '>', p.after).orderBy('id').limit(p.limit)),
    gatewayDevices: prepare((p: { id: string }) => db.selectFrom('devices').select('id').where('gateway_id', '=', p.id).where('revoked', '=', 0).orderBy('id')),
    revokeGateway: prepare((p: { id: string }) => db.updateTable('gateways').set({ revoked: 1 }).where('id', '=', p.id).returningAll()),
    setGatewaySecret: prepare((p: { id: string; digest: string }) => db.updateTable('gateways').set({ secret_digest: p.digest }).where('id', '=', p.id)),
    // The meta table also holds status-link revocations (`status-revoked:{ticketId}`), each
    // machine type's fleet models (`models:{type}`) and the window's width (WINDOW_WIDTH_KEY).
    meta: prepare((p: { key: string }) => db.selectFrom('meta').select('value').where('key', '=', p.key)),
    addMeta: prepare((p: { key: string; value: string }) => db.insertInto('meta').values({ key: p.key, value: p.value }).onConflict((oc) => oc.column('key').doNothing())),
    putMeta: prepare((p: { key: string; value: string }) => db.insertInto('meta').values({ key: p.key, value: p.value })
      .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })))),
  }
}

/** Distinct statement texts kept per batch statement (SQLite: one per row count). */
const BATCH_SHAPES = 64

const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]))

function batchStatements(d: Dialect) {
  /**
   * A statement whose only values are its rows, compiled once per shape (./dialect.ts rowsShape):
   * building a 500-row statement with Kysely costs more than running it. The first compile of a
   * shape checks that the rows are indeed its only values; if not, it compiles every time.
   */
  const shaped = <R extends readonly unknown[]>(columns: number, build: (rows: ReadonlyArray<R>) => RawBuilder<unknown>) => {
    const texts = new Map<number, string | null>()
    return (rows: ReadonlyArray<R>): Op => {
      const key = d.rowsShape(rows.length)
      const text = texts.get(key)
      const params = d.rowsParams(rows, columns)
      if (text !== undefined && text !== null) return { sql: text, params }
      const c = build(rows).compile(d.db)
      if (text === undefined) {
        if (texts.size >= BATCH_SHAPES) texts.clear()
        const same = c.parameters.length === params.length && c.parameters.every((v, i) => sameValue(v, params[i]))
        texts.set(key, same ? c.sql : null)
      }
      return { sql: c.sql, params: c.parameters }
    }
  }
  return {
    // CROSS JOIN makes SQLite walk the rows and look each device up by key (not scan devices);
    // `WHERE` also keeps it from reading ON CONFLICT as a join constraint.
    saveHealth: shaped(4, (rows: ReadonlyArray<readonly [string, string, string, number]>) => sql`insert into health (device_id, core, status, updated_at)
      select d.id, x.column2, x.column3, x.column4 from ${d.rows('x', rows, ['text', 'text', 'text', 'bigint'])} cross join devices d where d.id = x.column1
      on conflict (device_id) do update set core = excluded.core, status = excluded.status, updated_at = excluded.updated_at returning device_id`),
    // The window's stored buckets a batch adds to, looked up by key.
    windowRead: shaped(2, (rows: ReadonlyArray<readonly [string, number]>) => sql`select t.device_id, t.bucket_ms, t.width_ms, t.means
      from ${d.rows('x', rows, ['text', 'bigint'])} join telemetry_window t on t.device_id = x.column1 and t.bucket_ms = x.column2`),
    windowWrite: shaped(4, (rows: ReadonlyArray<readonly [string, number, number, string]>) => sql`insert into telemetry_window (device_id, bucket_ms, width_ms, means)
      select d.id, x.column2, x.column3, x.column4 from ${d.rows('x', rows, ['text', 'bigint', 'bigint', 'text'])} cross join devices d where d.id = x.column1
      on conflict (device_id, bucket_ms) do update set width_ms = excluded.width_ms, means = excluded.means`),
    // Each device's buckets at or before its cutoff: a range of the key per device, so the work is
    // the devices written plus the rows dropped, whatever the table's size.
    windowPrune: shaped(2, (rows: ReadonlyArray<readonly [string, number]>) => sql`delete from telemetry_window where (device_id, bucket_ms) in
      (select t.device_id, t.bucket_ms from ${d.rows('x', rows, ['text', 'bigint'])} join telemetry_window t on t.device_id = x.column1 and t.bucket_ms <= x.column2)`),
    touch: shaped(2, (rows: ReadonlyArray<readonly [string, number]>) => sql`update devices
      set last_seen = ${d.greatest(sql`coalesce(devices.last_seen, 0)`, sql`x.column2`)}
      from ${d.rows('x', rows, ['text', 'bigint'])} where devices.id = x.column1`),
  }
}
type BatchStatements = ReturnType<typeof batchStatements>

/** One statement commits alone; more need a transaction around them (and its two round trips). */
const oneCommit = <T>(list: readonly Op[], steps: () => Steps<T>): Work<T> => (list.length > 1 ? write(steps) : single(steps))

/** A long batch in statements of BATCH_ROWS rows. */
function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < list.length; i += BATCH_ROWS) out.push(list.slice(i, i + BATCH_ROWS))
  return out
}

/** The HMAC key for device secrets and API keys, made once per database; the first process to store one wins. */
export function serverSecret(d: Dialect): Work<Buffer> {
  const insert = prepare((p: { value: string }) => d.db.insertInto('meta').values({ key: 'secret', value: p.value }).onConflict((oc) => oc.column('key').doNothing()))
  const read = prepare(() => d.db.selectFrom('meta').select('value').where('key', '=', 'secret'))
  return write(function* () {
    yield* change(insert, { value: randomBytes(32).toString('hex') })
    return Buffer.from((yield* first(read, {}))!.value, 'hex')
  })
}

export type StoreWork = {
  [K in Exclude<keyof Store, 'onTransition' | 'outboxPort' | 'setPublicUrl' | 'close' | 'transitionTicket'>]:
    Store[K] extends (...a: infer A) => infer R ? (...a: A) => Work<R> : never
} & { transitionTicket(id: string, change: TicketTransition): Work<TicketChange> }

/** Every operation a runner turns into a store method one-to-one (transitionTicket also tells listeners). */
export const workMethods = [
  'createDevice', 'getDevice', 'listOnlineDevices', 'listDevices', 'verifyDeviceCredentials', 'setConnection', 'revokeDevice', 'rotateCredentials',
  'createGateway', 'getGateway', 'listGateways', 'verifyGatewayCredentials', 'revokeGateway', 'rotateGatewayCredentials',
  'saveHealth', 'touchDevices', 'saveHealthBatch', 'getHealthRecord', 'healthStatuses', 'addToWindow', 'recentWindow', 'applyDetectorEvent', 'listWarnings', 'getWarning', 'listTickets', 'getTicket',
  'precision', 'listOutbox', 'history', 'verifyHistory', 'ensureAdminKey', 'createApiKey', 'authenticateApiKey', 'listApiKeys', 'revokeApiKey',
  'statusToken', 'ticketByStatusToken', 'revokeStatusLink', 'getTypeModels', 'saveTypeModels', 'counts', 'ping',
] as const satisfies ReadonlyArray<keyof StoreWork>
// Fails to compile when an operation is missing from the list.
const listed: Exclude<keyof StoreWork, 'transitionTicket' | (typeof workMethods)[number]> extends never ? true : false = true
void listed

export interface RecordsOptions extends Omit<StoreOptions, 'dataDir'> {
  secret: Buffer
}

export class Records implements StoreWork {
  private readonly s
  private readonly h
  private readonly b: BatchStatements
  private readonly events: Events
  private readonly now: () => number
  private readonly secret: Buffer
  publicUrl: string

  constructor(private readonly d: Dialect, opts: RecordsOptions) {
    this.s = statements(d)
    this.h = historyStatements(d)
    this.b = batchStatements(d)
    this.now = opts.now ?? Date.now
    this.secret = opts.secret
    this.publicUrl = opts.publicUrl ?? ''
    this.events = new Events({
      dialect: d,
      history: this.h,
      policy: opts.ticketPolicy === undefined ? defaultTicketPolicy : parseTicketPolicy(opts.ticketPolicy),
      now: this.now,
      publicUrl: () => this.publicUrl,
      statusToken: (id) => statusToken(this.secret, id),
      adapters: [...new Set(opts.deliveryAdapters ?? [])].filter((a) => a !== FEED),
    })
  }

  private nowIso(): string {
    return new Date(this.now()).toISOString()
  }

  private digest(value: Buffer | string): string {
    return keyedDigest(this.secret, value).toString('hex')
  }

  private *device(id: string): Steps<Device | null> {
    const r = yield* first(this.s.device, { id })
    return r === undefined ? null : toDevice(r)
  }

  createDevice(input: NewDevice): Work<{ device: Device; credentials: Credentials }> {
    const s = this.s
    const h = this.h
    return write(function* (this: Records) {
      if (!isApplianceType(input.type)) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `unknown appliance type ${String(input.type)}`)
      const warranty = { standardEnd: input.warranty.standardEnd, extended: input.warranty.extended ?? [] }
      const password = newPassword()
      const digest = this.digest(Buffer.from(password, 'utf8'))
      if (input.gatewayId !== undefined) gatewayUsable(input.gatewayId, yield* first(s.shareGateway, { id: input.gatewayId }))
      const at = this.nowIso()
      // 60 random bits per id: a collision is all but impossible, and bounded retries cover it.
      for (let tries = 0; tries < 5; tries++) {
        const r = yield* first(s.insertDevice, {
          id: newDeviceId(input.type), type: input.type, model: input.model, serial: input.serial, region: input.region, installDate: input.installDate,
          warranty: JSON.stringify(warranty), ownerRef: input.ownerRef ?? null, gatewayId: input.gatewayId ?? null, at, digest,
        })
        if (r === undefined) continue
        yield* appendHistory(h, r.id, at, 'device.provisioned', {
          type: input.type, model: input.model, serial: input.serial, region: input.region, installDate: input.installDate, warranty,
          ...(input.gatewayId !== undefined ? { gatewayId: input.gatewayId } : {}),
        })
        return { device: toDevice(r), credentials: { username: r.id, password } }
      }
      throw new ForewarnError(ErrorCode.INTERNAL, 'could not find a free device id')
    }.bind(this))
  }

  getDevice(id: string): Work<Device | null> {
    return single(() => this.device(id))
  }

  listOnlineDevices(): Work<Device[]> {
    const s = this.s
    return single(function* () { return (yield* rows(s.online, {})).map(toDevice) })
  }

  listDevices(opts: PageOptions & { type?: string | undefined; status?: ConnectionState | undefined }): Work<Page<Device>> {
    const s = this.s
    return single(function* () {
      const limit = pageSize(opts.limit)
      const found = yield* rows(s.listDevices, { after: decodeCursor(opts.after) ?? '', type: opts.type ?? null, status: opts.status ?? null, limit: limit + 1 })
      return idPage(found.map(toDevice), limit)
    })
  }

  verifyDeviceCredentials(username: string, password: Buffer): Work<Device | null> {
    const s = this.s
    const secret = this.secret
    return single(function* () {
      const r = yield* first(s.device, { id: username })
      // Compare even for unknown users, so timing does not tell which device ids exist.
      const ok = digestEquals(keyedDigest(secret, password), r?.secret_digest ?? '00'.repeat(32))
      return r === undefined || !ok || r.revoked !== 0 ? null : toDevice(r)
    })
  }

  setConnection(id: string, state: ConnectionState, atMs: number): Work<boolean> {
    const s = this.s
    return single(function* () { return (yield* change(s.setConnection, { id, state, atMs })) > 0 })
  }

  touchDevices(items: Iterable<readonly [string, number]>): Work<number> {
    const latest = new Map<string, number>()
    for (const [id, at] of items) latest.set(id, Math.max(at, latest.get(id) ?? at))
    const list = chunks([...latest]).map((c) => this.b.touch(c))
    return oneCommit(list, function* () {
      let n = 0
      for (const o of list) n += (yield* op(o)).changes
      return n
    })
  }

  revokeDevice(id: string): Work<Device> {
    const { s, h } = this
    return write(function* (this: Records) {
      const r = yield* first(s.lockDevice, { id })
      if (r === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${id}`)
      if (r.revoked !== 0) return toDevice(r)
      yield* change(s.revoke, { id })
      yield* appendHistory(h, id, this.nowIso(), 'device.revoked', {})
      return (yield* this.device(id))!
    }.bind(this))
  }

  rotateCredentials(id: string): Work<Credentials> {
    const { s, h } = this
    return write(function* (this: Records) {
      const password = newPassword()
      const r = yield* first(s.lockDevice, { id })
      if (r === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${id}`)
      if (r.revoked !== 0) throw new ForewarnError(ErrorCode.CONFLICT, `device ${id} is revoked`)
      yield* change(s.setSecret, { id, digest: this.digest(Buffer.from(password, 'utf8')) })
      yield* appendHistory(h, id, this.nowIso(), 'device.credentials_rotated', {})
      return { username: id, password }
    }.bind(this))
  }

  createGateway(input: NewGateway): Work<{ gateway: Gateway; credentials: Credentials }> {
    const s = this.s
    return write(function* (this: Records) {
      const password = newPassword()
      const digest = this.digest(Buffer.from(password, 'utf8'))
      for (let tries = 0; tries < 5; tries++) {
        const r = yield* first(s.insertGateway, { id: newGatewayId(), label: input.label, region: input.region ?? null, ownerRef: input.ownerRef ?? null, at: this.nowIso(), digest })
        if (r !== undefined) return { gateway: toGateway(r), credentials: { username: r.id, password } }
      }
      throw new ForewarnError(ErrorCode.INTERNAL, 'could not find a free gateway id')
    }.bind(this))
  }

  getGateway(id: string): Work<GatewayDetail | null> {
    const s = this.s
    return snapshot(function* () {
      const r = yield* first(s.gateway, { id })
      return r === undefined ? null : { ...toGateway(r), deviceIds: (yield* rows(s.gatewayDevices, { id })).map((x) => x.id) }
    })
  }

  listGateways(opts: PageOptions): Work<Page<Gateway>> {
    const s = this.s
    return single(function* () {
      const limit = pageSize(opts.limit)
      return idPage((yield* rows(s.listGateways, { after: decodeCursor(opts.after) ?? '', limit: limit + 1 })).map(toGateway), limit)
    })
  }

  verifyGatewayCredentials(username: string, password: Buffer): Work<GatewayIdentity | null> {
    const s = this.s
    const secret = this.secret
    return single(function* () {
      const r = yield* first(s.gateway, { id: username })
      // Compare even for unknown users, so timing does not tell which gateway ids exist.
      const ok = digestEquals(keyedDigest(secret, password), r?.secret_digest ?? '00'.repeat(32))
      if (r === undefined || !ok || r.revoked !== 0) return null
      return { gateway: toGateway(r), deviceIds: (yield* rows(s.gatewayDevices, { id: r.id })).map((x) => x.id) }
    })
  }

  revokeGateway(id: string): Work<Gateway> {
    const s = this.s
    return single(function* () {
      const r = yield* first(s.revokeGateway, { id })
      if (r === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no gateway ${id}`)
      return toGateway(r)
    })
  }

  rotateGatewayCredentials(id: string): Work<Credentials> {
    const s = this.s
    return write(function* (this: Records) {
      const password = newPassword()
      const g = yield* first(s.lockGateway, { id })
      if (g === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no gateway ${id}`)
      if (g.revoked !== 0) throw new ForewarnError(ErrorCode.CONFLICT, `gateway ${id} is revoked`)
      yield* change(s.setGatewaySecret, { id, digest: this.digest(Buffer.from(password, 'utf8')) })
      return { username: id, password }
    }.bind(this))
  }

  saveHealth(deviceId: string, core: HealthCore): Work<boolean> {
    const s = this.s
    const at = this.now()
    return single(function* () { return (yield* change(s.saveHealth, { id: deviceId, core: JSON.stringify(core), status: core.status, at })) > 0 })
  }

  /** A device named twice keeps its last record and counts once per mention. */
  saveHealthBatch(items: Iterable<readonly [string, HealthCore]>): Work<number> {
    const list = [...items]
    const last = new Map<string, HealthCore>()
    for (const [id, core] of list) last.set(id, core)
    const at = this.now()
    const statements = chunks([...last]).map((c) => this.b.saveHealth(c.map(([id, core]) => [id, JSON.stringify(core), core.status, at] as const)))
    return oneCommit(statements, function* () {
      const saved = new Set<string>()
      for (const o of statements) for (const r of (yield* op(o)).rows as Array<{ device_id: string }>) saved.add(r.device_id)
      return list.filter(([id]) => saved.has(id)).length
    })
  }

  getHealthRecord(deviceId: string): Work<HealthRecord | null> {
    const { s, events } = this
    return snapshot(function* (this: Records) {
      const device = yield* this.device(deviceId)
      if (device === null) return null
      const h = yield* first(s.health, { id: deviceId })
      const core = h === undefined ? null : (JSON.parse(h.core) as HealthCore)
      const active = (yield* events.listWarnings({ limit: 1000, deviceId, state: 'active' })).items
      const recent: StoredWarning[] = []
      for (const r of yield* rows(s.recentWarnings, { id: deviceId, limit: RECENT_WARNINGS })) {
        const w = yield* events.getWarning(r.id)
        if (w !== null) recent.push(w)
      }
      return {
        device,
        status: healthStatus(device, core, active.map((w) => w.severity)),
        health: core,
        healthUpdatedAt: h === undefined ? null : new Date(h.updated_at).toISOString(),
        activeWarnings: active,
        recentWarnings: recent,
        openTickets: (yield* rows(s.openTickets, { id: deviceId })).map((r) => r.id),
      }
    }.bind(this))
  }

  healthStatuses(): Work<Record<string, HealthStatus>> {
    const s = this.s
    return snapshot(function* () {
      const active = new Map<string, Severity[]>()
      for (const w of yield* rows(s.activeSeverities, {})) {
        const list = active.get(w.device_id)
        if (list) list.push(w.severity as Severity)
        else active.set(w.device_id, [w.severity as Severity])
      }
      const out: Record<string, HealthStatus> = {}
      for (const r of yield* rows(s.allHealth, {})) {
        // The status column; the record is parsed only for a row an older release wrote without it.
        const status = r.status ?? (r.core === null ? null : (JSON.parse(r.core) as HealthCore).status)
        out[r.id] = healthStatus({ connection: r.connection as ConnectionState }, status === null ? null : { status: status as HealthCore['status'] }, active.get(r.id) ?? [])
      }
      return out
    })
  }

  addToWindow(items: Iterable<WindowBucket>, shape: WindowShape): Work<number> {
    const merged = new Map<string, WindowBucket>()
    for (const it of items) {
      const key = `${it.deviceId}\u0000${it.startMs}`
      const had = merged.get(key)
      merged.set(key, had === undefined ? it : { ...it, means: mergeMeans(had.means, it.means) })
    }
    // A device's buckets side by side, so its pruning sees them all in one chunk.
    const list = [...merged.values()].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.startMs - b.startMs))
    const { b, s } = this
    const spanMs = shape.buckets * shape.bucketMs
    // Read, write and prune in one transaction: a bucket is never merged twice.
    return (list.length > 0 ? write : single)(function* () {
      let stored = 0
      // The first write after the window was resized drops every row of another width (one key
      // read per write otherwise: the width in use is recorded in meta).
      if (list.length > 0 && (yield* first(s.meta, { key: WINDOW_WIDTH_KEY }))?.value !== String(shape.bucketMs)) {
        yield* change(s.dropWindowWidths, { width: shape.bucketMs })
        yield* change(s.putMeta, { key: WINDOW_WIDTH_KEY, value: String(shape.bucketMs) })
      }
      for (const c of chunks(list)) {
        const old = new Map<string, { width_ms: number; means: string }>()
        for (const r of (yield* op(b.windowRead(c.map((x) => [x.deviceId, x.startMs] as const)))).rows as Array<{ device_id: string; bucket_ms: number; width_ms: number; means: string }>) {
          old.set(`${r.device_id}\u0000${Number(r.bucket_ms)}`, r)
        }
        const newest = new Map<string, number>()
        const rows = c.map((x) => {
          const o = old.get(`${x.deviceId}\u0000${x.startMs}`)
          // A bucket of another width (the window was resized) starts afresh.
          const means = o !== undefined && Number(o.width_ms) === shape.bucketMs ? mergeMeans(JSON.parse(o.means) as BucketMeans, x.means) : x.means
          newest.set(x.deviceId, Math.max(newest.get(x.deviceId) ?? -Infinity, x.startMs))
          return [x.deviceId, x.startMs, shape.bucketMs, encodeMeans(means)] as const
        })
        // Rows inserted or updated (no RETURNING: reading rows back costs more than the write).
        stored += (yield* op(b.windowWrite(rows))).changes
        yield* op(b.windowPrune([...newest].map(([id, n]) => [id, n - spanMs] as const)))
      }
      return stored
    })
  }

  recentWindow(deviceId: string, shape: WindowShape): Work<StoredBucket[]> {
    const s = this.s
    return single(function* () {
      const found = yield* rows(s.window, { id: deviceId, limit: shape.buckets })
      const newest = found.find((r) => Number(r.width_ms) === shape.bucketMs)
      if (newest === undefined) return []
      const from = Number(newest.bucket_ms) - shape.buckets * shape.bucketMs
      const out: StoredBucket[] = []
      for (let i = found.length - 1; i >= 0; i--) {
        const r = found[i]!
        if (Number(r.width_ms) === shape.bucketMs && Number(r.bucket_ms) > from) out.push({ startMs: Number(r.bucket_ms), means: JSON.parse(r.means) as BucketMeans })
      }
      return out
    })
  }

  applyDetectorEvent(ev: DetectorEvent, detectedAtMs: number): Work<ApplyResult> {
    return write(() => this.events.apply(ev, detectedAtMs))
  }

  listWarnings(opts: Parameters<Store['listWarnings']>[0]): Work<Page<StoredWarning>> { return single(() => this.events.listWarnings(opts)) }
  getWarning(id: string): Work<StoredWarning | null> { return single(() => this.events.getWarning(id)) }
  listTickets(opts: Parameters<Store['listTickets']>[0]): Work<Page<TicketRecord>> { return single(() => this.events.listTickets(opts)) }
  getTicket(id: string): Work<TicketRecord | null> { return single(() => this.events.getTicket(id)) }
  transitionTicket(id: string, change: TicketTransition): Work<TicketChange> { return write(() => this.events.transition(id, change)) }
  precision(opts?: Parameters<Store['precision']>[0]): Work<PrecisionRow[]> { return single(() => this.events.precision(opts)) }
  listOutbox(opts: Parameters<Store['listOutbox']>[0]): Work<Page<import('./types.ts').OutboxRow>> { return single(() => this.events.listOutbox(opts)) }

  history(deviceId: string, opts: PageOptions): Work<Page<HistoryEntry>> {
    const h = this.h
    return single(function* (this: Records) {
      if ((yield* this.device(deviceId)) === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${deviceId}`)
      return yield* listHistory(h, deviceId, opts)
    }.bind(this))
  }

  verifyHistory(deviceId: string): Work<VerifyResult> {
    const h = this.h
    return snapshot(function* () {
      const r = yield* verifyHistory(h, deviceId)
      if (r === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no device ${deviceId}`)
      return r
    })
  }

  ensureAdminKey(fromEnv?: string): Work<{ key: string | null }> {
    const s = this.s
    return single(function* (this: Records) {
      if (fromEnv !== undefined && fromEnv !== '') {
        yield* change(s.upsertKey, { id: ADMIN_KEY_ID, digest: this.digest(fromEnv), scopes: JSON.stringify(['*']), label: 'admin (FOREWARN_ADMIN_KEY)', at: this.nowIso() })
        return { key: null }
      }
      // Two instances starting at once: one insert wins, the other learns there is a key already.
      const key = newApiKey()
      const n = yield* change(s.insertKey, { id: ADMIN_KEY_ID, digest: this.digest(key), scopes: JSON.stringify(['*']), label: 'admin (generated)', at: this.nowIso() })
      return { key: n === 1 ? key : null }
    }.bind(this))
  }

  createApiKey(scopes: readonly Scope[], label = ''): Work<{ id: string; key: string }> {
    const s = this.s
    return single(function* (this: Records) {
      const bad = scopes.filter((x) => !allScopes.includes(x))
      if (bad.length > 0 || scopes.length === 0) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `invalid scopes: ${bad.join(', ') || '(none)'}`)
      const id = newKeyId()
      const key = newApiKey()
      yield* change(s.insertKey, { id, digest: this.digest(key), scopes: JSON.stringify([...new Set(scopes)]), label, at: this.nowIso() })
      return { id, key }
    }.bind(this))
  }

  /** Look-up by keyed digest: an index hit on the digest reveals nothing about the key. */
  authenticateApiKey(key: string): Work<ApiKeyIdentity | null> {
    const s = this.s
    return single(function* (this: Records) {
      if (key.length === 0 || key.length > 256) return null
      const r = yield* first(s.keyByDigest, { digest: this.digest(key) })
      return r === undefined ? null : { id: r.id, scopes: JSON.parse(r.scopes) as ApiKeyIdentity['scopes'] }
    }.bind(this))
  }

  listApiKeys(): Work<ApiKeyInfo[]> {
    const s = this.s
    return single(function* () { return (yield* rows(s.listKeys, {})).map(toKeyInfo) })
  }

  revokeApiKey(id: string): Work<ApiKeyInfo> {
    const s = this.s
    return single(function* () {
      if (id === ADMIN_KEY_ID) throw new ForewarnError(ErrorCode.CONFLICT, 'the admin key cannot be revoked through the API; set a new FOREWARN_ADMIN_KEY')
      const r = yield* first(s.revokeKey, { id })
      if (r === undefined) throw new ForewarnError(ErrorCode.NOT_FOUND, `no API key ${id}`)
      return toKeyInfo(r)
    })
  }

  /** Made from the server secret, nothing stored: every process of one database gives the same token. */
  statusToken(ticketId: string): Work<string> {
    const secret = this.secret
    // eslint-disable-next-line require-yield
    return single(function* () { return statusToken(secret, ticketId) })
  }

  ticketByStatusToken(token: string): Work<TicketRecord | null> {
    const { s, events, secret } = this
    return snapshot(function* () {
      const id = openStatusToken(secret, token)
      if (id === null || (yield* first(s.meta, { key: revokedKey(id) })) !== undefined) return null
      return yield* events.getTicket(id)
    })
  }

  revokeStatusLink(ticketId: string): Work<void> {
    const { s, events } = this
    return write(function* (this: Records) {
      if ((yield* events.getTicket(ticketId)) === null) throw new ForewarnError(ErrorCode.NOT_FOUND, `no ticket ${ticketId}`)
      yield* change(s.addMeta, { key: revokedKey(ticketId), value: this.nowIso() })
    }.bind(this))
  }

  getTypeModels(type: string): Work<string | null> {
    const s = this.s
    return single(function* () { return (yield* first(s.meta, { key: `models:${type}` }))?.value ?? null })
  }

  saveTypeModels(type: string, json: string): Work<void> {
    const s = this.s
    return single(function* () { yield* change(s.putMeta, { key: `models:${type}`, value: json }) })
  }

  counts(): Work<StoreCounts> {
    const s = this.s
    return single(function* () {
      const c = (yield* first(s.counts, {}))!
      return {
        devices: Number(c.devices), online: Number(c.online), activeWarnings: Number(c.activeWarnings), tickets: Number(c.tickets),
        openTickets: Number(c.openTickets), pendingDeliveries: Number(c.pendingDeliveries), deadDeliveries: Number(c.deadDeliveries),
      }
    })
  }

  ping(): Work<boolean> {
    const s = this.s
    return single(function* () { return Number((yield* first(s.ping, {}))?.ok) === 1 })
  }
}

/**
 * The store object over a runner: each operation becomes a method that runs its Work (inline on
 * SQLite, a Promise on PostgreSQL). Ticket listeners hear of a transition after its commit. The
 * caller adds `close` and `ping`, and types the result as `Store` or `AsyncRecordsStore`.
 */
export function storeOver(d: Dialect, records: Records, run: (w: Work<unknown>) => unknown): Record<string, unknown> {
  const store: Record<string, unknown> = {}
  for (const name of workMethods) store[name] = (...a: unknown[]) => run((records[name] as (...x: unknown[]) => Work<unknown>).apply(records, a))
  const listeners = new TicketChangeListeners()
  const told = (done: TicketChange) => {
    listeners.emit(done)
    return done.ticket
  }
  const outbox = (o?: { leaseMs?: number }) => {
    const w = outboxWork(d, o)
    return {
      claimDue: (nowMs: number, limit: number) => run(w.claimDue(nowMs, limit)),
      markDelivered: (id: string, ref: string | null, nowMs: number) => run(w.markDelivered(id, ref, nowMs)),
      markRetry: (id: string, attempts: number, at: number, error: string) => run(w.markRetry(id, attempts, at, error)),
      markDead: (id: string, attempts: number, error: string) => run(w.markDead(id, attempts, error)),
      listDead: (limit: number, after?: string) => run(w.listDead(limit, after)),
      replayDead: (id: string) => run(w.replayDead(id)),
    }
  }
  return Object.assign(store, {
    transitionTicket(id: string, change: TicketTransition) {
      const r = run(records.transitionTicket(id, change)) as TicketChange | Promise<TicketChange>
      return r instanceof Promise ? r.then(told) : told(r)
    },
    onTransition: (listener: Parameters<Store['onTransition']>[0]) => listeners.add(listener),
    outboxPort: outbox,
    setPublicUrl: (url: string) => { records.publicUrl = url },
  })
}

/** Means of two parts of one bucket, weighted by their counts. */
export function mergeMeans(a: BucketMeans, b: BucketMeans): BucketMeans {
  const out: Record<string, readonly [number, number]> = { ...a }
  for (const name in b) {
    const [mb, nb] = b[name]!
    const had = out[name]
    out[name] = had === undefined ? [mb, nb] : [(had[0] * had[1] + mb * nb) / (had[1] + nb), had[1] + nb]
  }
  return out
}

/** Six significant digits: finer than any chart shows, and a third of a double's text. */
const encodeMeans = (m: BucketMeans): string => {
  const out: Record<string, [number, number]> = {}
  for (const name in m) out[name] = [Number(m[name]![0].toPrecision(6)), m[name]![1]]
  return JSON.stringify(out)
}

function idPage<T extends { id: string }>(found: T[], limit: number): Page<T> {
  const items = found.slice(0, limit)
  const last = items.at(-1)
  return { items, next: found.length > limit && last !== undefined ? encodeCursor(last.id) : null }
}

/** A device may be registered only behind a gateway that exists and is not revoked. */
function gatewayUsable(gatewayId: string, row: GatewayRow | undefined): void {
  if (row === undefined) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `no gateway ${gatewayId}: provision it first (POST /gateways)`)
  if (row.revoked !== 0) throw new ForewarnError(ErrorCode.CONFLICT, `gateway ${gatewayId} is revoked`)
}

interface KeyRow { id: string; label: string; scopes: string; created_at: string; revoked: number }
const toKeyInfo = (r: KeyRow): ApiKeyInfo => ({
  id: r.id, label: r.label, scopes: JSON.parse(r.scopes) as ApiKeyInfo['scopes'], createdAt: r.created_at, revoked: r.revoked !== 0,
})

const severityStatus: Readonly<Record<Severity, HealthStatus>> = { watch: 'watch', warning: 'warning', critical: 'critical' }
const statusRank: Readonly<Record<HealthStatus, number>> = { healthy: 0, watch: 1, warning: 2, critical: 3, offline: 4 }

/** Offline wins (it is shown, not mistaken for a fault); otherwise the worse of detector and active warnings. */
export function healthStatus(device: Pick<Device, 'connection'>, core: Pick<HealthCore, 'status'> | null, active: readonly Severity[]): HealthStatus {
  if (device.connection === 'offline') return 'offline'
  let status: HealthStatus = core === null || core.status === 'offline' ? 'healthy' : core.status
  for (const s of active) {
    const w = severityStatus[s]
    if (statusRank[w] > statusRank[status]) status = w
  }
  return status
}

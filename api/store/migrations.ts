/**
 * Schema migrations, written once for both databases with Kysely's schema builder (the few
 * differences come from ./dialect.ts) and applied in order, each in its own write transaction
 * together with its row in `store_migrations`: the schema version is the highest id there. Never
 * edit a shipped migration; append a new one.
 *
 * Databases made before this file (each store had its own list, recorded in `schema_migrations`)
 * are taken over: a database at the last version of its old list already has migration 1's
 * tables, so 1 is recorded as applied and the rest run as usual. One at an older version must
 * first be opened once by the release it came from (its own migrations bring it up to date).
 */
import { sql } from 'kysely'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import type { Dialect } from './dialect.ts'
import { constant, first, op, prepare, write, type Op, type Work } from './run.ts'

export interface Migration {
  id: number
  name: string
  up(d: Dialect): Op[]
}

const s = constant
const raw = (list: string[]): Op[] => list.map((x) => ({ sql: x, params: [] }))

export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'records, warnings, tickets, outbox, history, keys, outcomes, gateways',
    up: (d) => {
      const k = d.db.schema
      return [
        s(k.createTable('meta').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull())),
        s(k.createTable('devices')
          .addColumn('id', d.idText, (c) => c.primaryKey())
          .addColumn('type', 'text', (c) => c.notNull()).addColumn('model', 'text', (c) => c.notNull())
          .addColumn('serial', 'text', (c) => c.notNull()).addColumn('region', 'text', (c) => c.notNull())
          .addColumn('install_date', 'text', (c) => c.notNull()).addColumn('warranty', 'text', (c) => c.notNull())
          .addColumn('owner_ref', 'text').addColumn('gateway_id', 'text').addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('connection', 'text', (c) => c.notNull().defaultTo('unknown')).addColumn('last_seen', 'bigint')
          .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('secret_digest', 'text', (c) => c.notNull())
          .addColumn('history_seq', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('history_head', 'text', (c) => c.notNull().defaultTo(''))),
        s(k.createIndex('devices_type').on('devices').columns(['type', 'id'])),
        s(k.createIndex('devices_gateway').on('devices').columns(['gateway_id', 'id']).where(sql.ref('gateway_id'), 'is not', null)),
        s(k.createTable('health')
          .addColumn('device_id', 'text', (c) => c.primaryKey().references('devices.id'))
          .addColumn('core', 'text', (c) => c.notNull()).addColumn('updated_at', 'bigint', (c) => c.notNull())),
        s(d.serial(k.createTable('warnings'))
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
          .addColumn('fault_code', 'text', (c) => c.notNull()).addColumn('component', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull()).addColumn('state', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull()).addColumn('message', 'text', (c) => c.notNull())
          .addColumn('evidence', 'text', (c) => c.notNull()).addColumn('rul', 'text')
          .addColumn('event_time', 'bigint', (c) => c.notNull()).addColumn('detected_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull()).addColumn('cleared_at', 'text').addColumn('ticket_id', 'text')),
        s(k.createIndex('warnings_device').on('warnings').columns(['device_id', 'n'])),
        s(k.createIndex('warnings_state').on('warnings').columns(['state', 'n'])),
        // Detector events already applied: a replay after a crash is recognised and changes nothing.
        s(k.createTable('applied_events').addColumn('key', 'text', (c) => c.primaryKey())),
        s(d.serial(k.createTable('tickets'))
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
          .addColumn('episode_id', 'text', (c) => c.notNull().unique())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at_ms', 'bigint', (c) => c.notNull()).addColumn('record', 'text', (c) => c.notNull())),
        s(k.createIndex('tickets_device').on('tickets').columns(['device_id', 'n'])),
        s(k.createIndex('tickets_state').on('tickets').columns(['state', 'n'])),
        // Transactional outbox: written in the same transaction as the ticket change it announces.
        s(d.serial(k.createTable('outbox'))
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('ticket_id', 'text', (c) => c.notNull().references('tickets.id'))
          .addColumn('adapter', 'text', (c) => c.notNull().defaultTo('feed'))
          .addColumn('event', 'text', (c) => c.notNull()).addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending'))
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull()).addColumn('last_error', 'text')
          .addColumn('external_ref', 'text').addColumn('created_at', 'text', (c) => c.notNull()).addColumn('delivered_at', 'text')),
        s(k.createIndex('outbox_due').on('outbox').columns(['state', 'next_attempt_at'])),
        s(k.createIndex('outbox_adapter').on('outbox').columns(['adapter', 'n'])),
        s(k.createIndex('outbox_ticket').on('outbox').columns(['ticket_id', 'adapter', 'n'])),
        s(k.createTable('history')
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
          .addColumn('seq', 'integer', (c) => c.notNull()).addColumn('at', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull()).addColumn('data', 'text', (c) => c.notNull())
          .addColumn('prev_hash', 'text', (c) => c.notNull()).addColumn('hash', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('history_pkey', ['device_id', 'seq'])),
        // Append-only by construction; the hash chain catches whoever drops these triggers.
        ...raw(d.appendOnly('history')),
        s(k.createTable('api_keys')
          .addColumn('id', 'text', (c) => c.primaryKey()).addColumn('digest', 'text', (c) => c.notNull().unique())
          .addColumn('scopes', 'text', (c) => c.notNull()).addColumn('label', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'text', (c) => c.notNull()).addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))),
        // One row per resolved ticket and fault code on it: precision per fault code and model,
        // the no-fault-found quiet period and the repeat-repair look-back all read this table.
        s(k.createTable('outcomes')
          .addColumn('ticket_id', 'text', (c) => c.notNull().references('tickets.id'))
          .addColumn('fault_code', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
          .addColumn('model', 'text', (c) => c.notNull()).addColumn('component', 'text', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull()).addColumn('resolved_at_ms', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('outcomes_pkey', ['ticket_id', 'fault_code'])),
        s(k.createIndex('outcomes_device').on('outcomes').columns(['device_id', 'fault_code', 'resolved_at_ms'])),
        s(k.createIndex('outcomes_component').on('outcomes').columns(['device_id', 'component', 'resolved_at_ms'])),
        s(k.createIndex('outcomes_model').on('outcomes').columns(['fault_code', 'model'])),
        // A home hub that publishes for the devices whose gateway_id names it (issue 4). Its secret
        // is stored as a keyed digest, like a device's.
        s(k.createTable('gateways')
          .addColumn('id', d.idText, (c) => c.primaryKey()).addColumn('label', 'text', (c) => c.notNull())
          .addColumn('region', 'text').addColumn('owner_ref', 'text').addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0)).addColumn('secret_digest', 'text', (c) => c.notNull())),
      ]
    },
  },
  {
    id: 2,
    name: 'the same partial indexes on both databases',
    up: (d) => {
      const k = d.db.schema
      return [
        // Feed rows stay 'pending' for ever (the pull feed reads them, no worker claims them), so
        // a claim must not scan them: this index holds only the jobs a worker may claim.
        s(k.createIndex('outbox_pending_jobs').ifNotExists().on('outbox').column('n')
          .where(sql<boolean>`state = 'pending' AND adapter <> 'feed'`)),
        // The silence-to-offline sweep reads the online devices.
        s(k.createIndex('devices_online').ifNotExists().on('devices').column('id').where(sql.ref('connection'), '=', sql.lit('online'))),
      ]
    },
  },
  {
    id: 3,
    name: "the console's recent telemetry window",
    // One row per device and bucket (at most the window's bucket count per device): the key is
    // the only index, and a device's rows are one range of it.
    up: (d) => [
      s(d.db.schema.createTable('telemetry_window')
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
        .addColumn('bucket_ms', 'bigint', (c) => c.notNull()).addColumn('width_ms', 'bigint', (c) => c.notNull())
        .addColumn('means', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('telemetry_window_pkey', ['device_id', 'bucket_ms'])),
    ],
  },
  {
    id: 4,
    name: "each health record's detector status in a column of its own",
    // The fleet view reads every device's status on each poll: a column, not the whole record
    // parsed. Rows written before it get theirs from the record they hold.
    up: (d) => [
      s(d.db.schema.alterTable('health').addColumn('status', 'text')),
      s(d.db.updateTable('health').set({ status: d.jsonField('core', 'status') })),
    ],
  },
]

/** The version each store's own list had reached when this list replaced them. */
const LEGACY_LAST: Readonly<Record<Dialect['name'], number>> = { sqlite: 5, postgres: 3 }

/**
 * The migration steps, each a Work for the store's runner: first the version table (and the
 * take-over of a database made before it), then one Work per migration that answers whether it
 * applied it. Each re-reads the version inside its own transaction, so two processes opening one
 * database at once do not apply a migration twice.
 */
export function migrationWork(d: Dialect, list: readonly Migration[] = migrations): Work<boolean>[] {
  const db = d.db
  const applied = prepare((p: { id: number }) => db.selectFrom('store_migrations').select('id').where('id', '=', p.id))
  const record = prepare((p: { id: number; name: string; at: string }) => db.insertInto('store_migrations').values({ id: p.id, name: p.name, applied_at: p.at }))
  const legacyTable = d.tableExists('schema_migrations')
  const legacy = constant(db.selectFrom('schema_migrations').select((eb) => eb.fn.max('id').as('id')))
  const versionTable = constant(db.schema.createTable('store_migrations').ifNotExists()
    .addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('name', 'text', (c) => c.notNull()).addColumn('applied_at', 'text', (c) => c.notNull()))
  const begin = write(function* () {
    const fresh = (yield* op(d.tableExists('store_migrations'))).rows.length === 0
    yield* op(versionTable)
    if (!fresh || (yield* op(legacyTable)).rows.length === 0) return false
    const from = Number(((yield* op(legacy)).rows[0] as { id: number | null } | undefined)?.id ?? 0)
    if (from < LEGACY_LAST[d.name]) {
      throw new ForewarnError(ErrorCode.STORE, `this ${d.name} database is at schema_migrations ${from} of ${LEGACY_LAST[d.name]}: open it once with the Forewarn release that made it, then again with this one`)
    }
    yield* op(constant(db.insertInto('store_migrations').values({ id: 1, name: `${list[0]!.name} (taken over from schema_migrations ${from})`, applied_at: new Date().toISOString() })))
    return true
  })
  return [begin, ...list.map((m) => write(function* () {
    if ((yield* first(applied, { id: m.id })) !== undefined) return false
    for (const o of m.up(d)) yield* op(o)
    yield* first(record, { id: m.id, name: m.name, at: new Date().toISOString() })
    return true
  }))]
}

/**
 * Schema migrations for the PostgreSQL store: the same tables as the embedded store
 * (./migrations.ts), in PostgreSQL's types, applied once each in their own transaction with their
 * row in `schema_migrations`. An advisory lock serialises migrating processes (several API
 * instances starting at once against one database). Never edit a shipped migration; append one.
 *
 * Column names and JSON-as-text columns match SQLite's so both stores share the row mappers in
 * ./rows.ts. Integers that hold epoch milliseconds are BIGINT (read back as numbers by the pool's
 * type parser, see ./postgres.ts); `revoked` stays an integer because toDevice compares with 0.
 */
import type pg from 'pg'

export interface PgMigration {
  id: number
  name: string
  sql: string
}

export const pgMigrations: readonly PgMigration[] = [
  {
    id: 1,
    name: 'initial',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE devices (
        id TEXT COLLATE "C" PRIMARY KEY,
        type TEXT NOT NULL, model TEXT NOT NULL, serial TEXT NOT NULL, region TEXT NOT NULL,
        install_date TEXT NOT NULL, warranty TEXT NOT NULL,
        owner_ref TEXT, gateway_id TEXT, created_at TEXT NOT NULL,
        connection TEXT NOT NULL DEFAULT 'unknown', last_seen BIGINT,
        revoked INTEGER NOT NULL DEFAULT 0,
        secret_digest TEXT NOT NULL,
        history_seq INTEGER NOT NULL DEFAULT 0,
        history_head TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX devices_type ON devices(type, id);
      CREATE INDEX devices_online ON devices(id) WHERE connection = 'online';
      CREATE TABLE health (
        device_id TEXT PRIMARY KEY REFERENCES devices(id),
        core TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE warnings (
        n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL REFERENCES devices(id),
        fault_code TEXT NOT NULL, component TEXT NOT NULL,
        severity TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL,
        message TEXT NOT NULL, evidence TEXT NOT NULL, rul TEXT,
        event_time BIGINT NOT NULL, detected_at TEXT NOT NULL, updated_at TEXT NOT NULL, cleared_at TEXT,
        ticket_id TEXT
      );
      CREATE INDEX warnings_device ON warnings(device_id, n);
      CREATE INDEX warnings_state ON warnings(state, n);
      CREATE TABLE applied_events (key TEXT PRIMARY KEY);
      CREATE TABLE tickets (
        n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL REFERENCES devices(id),
        episode_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX tickets_device ON tickets(device_id, n);
      CREATE INDEX tickets_state ON tickets(state, n);
      CREATE TABLE outbox (
        n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        ticket_id TEXT NOT NULL REFERENCES tickets(id),
        adapter TEXT NOT NULL DEFAULT 'feed',
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        last_error TEXT,
        external_ref TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT
      );
      CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
      CREATE INDEX outbox_adapter ON outbox(adapter, n);
      CREATE INDEX outbox_ticket ON outbox(ticket_id, adapter, n);
      CREATE TABLE history (
        device_id TEXT NOT NULL REFERENCES devices(id),
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (device_id, seq)
      );
      -- Append-only by construction; the hash chain catches whoever drops these triggers.
      CREATE FUNCTION history_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'history is append-only'; END $$;
      CREATE TRIGGER history_no_update BEFORE UPDATE ON history FOR EACH ROW EXECUTE FUNCTION history_append_only();
      CREATE TRIGGER history_no_delete BEFORE DELETE ON history FOR EACH ROW EXECUTE FUNCTION history_append_only();
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
      );
    `,
  },
  {
    id: 2,
    name: 'repair outcomes for learning',
    sql: `
      -- One row per resolved ticket and fault code on it (see ./migrations.ts, migration 3).
      CREATE TABLE outcomes (
        ticket_id TEXT NOT NULL REFERENCES tickets(id),
        fault_code TEXT NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices(id),
        model TEXT NOT NULL,
        component TEXT NOT NULL,
        outcome TEXT NOT NULL,
        resolved_at_ms BIGINT NOT NULL,
        PRIMARY KEY (ticket_id, fault_code)
      );
      CREATE INDEX outcomes_device ON outcomes(device_id, fault_code, resolved_at_ms);
      CREATE INDEX outcomes_component ON outcomes(device_id, component, resolved_at_ms);
      CREATE INDEX outcomes_model ON outcomes(fault_code, model);
    `,
  },
  {
    id: 3,
    name: 'gateways',
    sql: `
      -- See ./migrations.ts, migration 5.
      CREATE TABLE gateways (
        id TEXT COLLATE "C" PRIMARY KEY,
        label TEXT NOT NULL,
        region TEXT,
        owner_ref TEXT,
        created_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        secret_digest TEXT NOT NULL
      );
      CREATE INDEX devices_gateway ON devices(gateway_id, id) WHERE gateway_id IS NOT NULL;
    `,
  },
]

/** Arbitrary constant: the advisory lock every migrating Forewarn process takes. */
const MIGRATION_LOCK = 0x666f7265

export async function migratePostgres(client: pg.ClientBase, list: readonly PgMigration[] = pgMigrations): Promise<number[]> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)')
    const done = new Set((await client.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id))
    const applied: number[] = []
    for (const m of list) {
      if (done.has(m.id)) continue
      await client.query('BEGIN')
      try {
        await client.query(m.sql)
        await client.query('INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [m.id, m.name, new Date().toISOString()])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw err
      }
      applied.push(m.id)
    }
    return applied
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
  }
}

/**
 * Schema migrations for the embedded database: an ordered list applied once each, every one in
 * its own transaction together with its row in `schema_migrations`.
 *
 * Not umzug: umzug's `up()` is asynchronous only, and `openStore()` is synchronous (the broker's
 * authenticate hook and the composition root call it inline), so it must finish migrating before
 * it returns. Forty lines of ordered SQL do the same job with nothing to fight. Never edit a
 * shipped migration; append a new one.
 */
import type Libsql from 'libsql'

type Database = Libsql.Database

export interface Migration {
  id: number
  name: string
  sql: string
}

export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'initial',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL, model TEXT NOT NULL, serial TEXT NOT NULL, region TEXT NOT NULL,
        install_date TEXT NOT NULL, warranty TEXT NOT NULL,
        owner_ref TEXT, gateway_id TEXT, created_at TEXT NOT NULL,
        connection TEXT NOT NULL DEFAULT 'unknown', last_seen INTEGER,
        revoked INTEGER NOT NULL DEFAULT 0,
        secret_digest TEXT NOT NULL,
        history_seq INTEGER NOT NULL DEFAULT 0,
        history_head TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX devices_type ON devices(type, id);
      CREATE TABLE health (
        device_id TEXT PRIMARY KEY REFERENCES devices(id),
        core TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE warnings (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL REFERENCES devices(id),
        fault_code TEXT NOT NULL, component TEXT NOT NULL,
        severity TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL,
        message TEXT NOT NULL, evidence TEXT NOT NULL, rul TEXT,
        event_time INTEGER NOT NULL, detected_at TEXT NOT NULL, updated_at TEXT NOT NULL, cleared_at TEXT,
        ticket_id TEXT
      );
      CREATE INDEX warnings_device ON warnings(device_id, n);
      CREATE INDEX warnings_state ON warnings(state, n);
      -- Detector events already applied: a replay after a crash is recognised and changes nothing.
      CREATE TABLE applied_events (key TEXT PRIMARY KEY);
      CREATE TABLE tickets (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL REFERENCES devices(id),
        episode_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX tickets_device ON tickets(device_id, n);
      CREATE INDEX tickets_state ON tickets(state, n);
      -- Transactional outbox: written in the same transaction as the ticket change it announces.
      CREATE TABLE outbox (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        ticket_id TEXT NOT NULL REFERENCES tickets(id),
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT
      );
      CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
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
      CREATE TRIGGER history_no_update BEFORE UPDATE ON history BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
      CREATE TRIGGER history_no_delete BEFORE DELETE ON history BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
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
    name: 'outbox jobs per delivery adapter',
    sql: `
      ALTER TABLE outbox ADD COLUMN adapter TEXT NOT NULL DEFAULT 'feed';
      ALTER TABLE outbox ADD COLUMN external_ref TEXT;
      CREATE INDEX outbox_adapter ON outbox(adapter, n);
    `,
  },
  {
    id: 3,
    name: 'repair outcomes for learning; outbox order per ticket and adapter',
    sql: `
      -- One row per resolved ticket and fault code on it: precision per fault code and model,
      -- the no-fault-found quiet period and the repeat-repair look-back all read this table.
      CREATE TABLE outcomes (
        ticket_id TEXT NOT NULL REFERENCES tickets(id),
        fault_code TEXT NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices(id),
        model TEXT NOT NULL,
        component TEXT NOT NULL,
        outcome TEXT NOT NULL,
        resolved_at_ms INTEGER NOT NULL,
        PRIMARY KEY (ticket_id, fault_code)
      );
      CREATE INDEX outcomes_device ON outcomes(device_id, fault_code, resolved_at_ms);
      CREATE INDEX outcomes_component ON outcomes(device_id, component, resolved_at_ms);
      CREATE INDEX outcomes_model ON outcomes(fault_code, model);
      CREATE INDEX outbox_ticket ON outbox(ticket_id, adapter, n);
    `,
  },
  {
    id: 4,
    name: 'outbox: index of pending delivery jobs only',
    sql: `
      -- Feed rows stay 'pending' for ever (the pull feed reads them, no worker claims them), so the
      -- claim must not scan them: this index holds only the jobs a worker may claim, in outbox order.
      CREATE INDEX outbox_pending_jobs ON outbox(n) WHERE state = 'pending' AND adapter != 'feed';
    `,
  },
  {
    id: 5,
    name: 'gateways',
    sql: `
      -- A home hub that publishes for the devices whose gateway_id names it (issue 4). Its secret
      -- is stored as a keyed digest, like a device's.
      CREATE TABLE gateways (
        id TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        region TEXT,
        owner_ref TEXT,
        created_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        secret_digest TEXT NOT NULL
      );
      -- The devices behind a gateway, read at every gateway connection.
      CREATE INDEX devices_gateway ON devices(gateway_id, id) WHERE gateway_id IS NOT NULL;
    `,
  },
]

export function migrate(db: Database, list: readonly Migration[] = migrations): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)')
  const done = new Set((db.prepare('SELECT id FROM schema_migrations').all() as Array<{ id: number }>).map((r) => r.id))
  const applied: number[] = []
  for (const m of list) {
    if (done.has(m.id)) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(m.id, m.name, new Date().toISOString())
    }).immediate()
    applied.push(m.id)
  }
  return applied
}

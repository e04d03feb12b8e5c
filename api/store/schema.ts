/**
 * The tables as Kysely sees them: what makes every query in the store type-checked. Columns the
 * database fills in are `Generated`. JSON columns are TEXT holding JSON (both databases); times are
 * ISO text or epoch milliseconds, as the column name says.
 */
import type { Generated } from 'kysely'

export interface Database {
  meta: { key: string; value: string }
  devices: {
    id: string; type: string; model: string; serial: string; region: string; install_date: string; warranty: string
    owner_ref: string | null; gateway_id: string | null; created_at: string
    connection: Generated<string>; last_seen: number | null; revoked: Generated<number>; secret_digest: string
    history_seq: Generated<number>; history_head: Generated<string>
  }
  gateways: {
    id: string; label: string; region: string | null; owner_ref: string | null; created_at: string; revoked: Generated<number>; secret_digest: string
  }
  /** `status` is `core`'s status (null only in a row an older release wrote after migration 4). */
  health: { device_id: string; core: string; status: string | null; updated_at: number }
  /** The console's recent window: per device and bucket start, JSON `{ metric: [mean, count] }`. */
  telemetry_window: { device_id: string; bucket_ms: number; width_ms: number; means: string }
  warnings: {
    n: Generated<number>; id: string; device_id: string; fault_code: string; component: string; severity: string; state: string
    source: string; message: string; evidence: string; rul: string | null; event_time: number; detected_at: string
    updated_at: string; cleared_at: string | null; ticket_id: Generated<string | null>
  }
  applied_events: { key: string }
  tickets: { n: Generated<number>; id: string; device_id: string; episode_id: string; state: string; created_at_ms: number; record: string }
  outbox: {
    n: Generated<number>; id: string; ticket_id: string; adapter: string; event: string; payload: string; state: Generated<string>
    attempts: Generated<number>; next_attempt_at: number; last_error: string | null; external_ref: string | null; created_at: string
    delivered_at: string | null
  }
  history: { device_id: string; seq: number; at: string; kind: string; data: string; prev_hash: string; hash: string }
  api_keys: { id: string; digest: string; scopes: string; label: Generated<string>; created_at: string; revoked: Generated<number> }
  outcomes: { ticket_id: string; fault_code: string; device_id: string; model: string; component: string; outcome: string; resolved_at_ms: number }
  store_migrations: { id: number; name: string; applied_at: string }
  /** The two stores' former migration records (kept: they say where a database came from). */
  schema_migrations: { id: number; name: string; applied_at: string }
}

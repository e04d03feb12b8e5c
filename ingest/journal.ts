/**
 * The ingest journal: an SQLite file (libsql) that makes an accepted reading durable before the
 * device gets its PUBACK. WAL + synchronous=FULL, so a commit has reached the disk (fsync).
 * Synchronous API on purpose: one transaction per group commit, nothing interleaves inside it.
 */
import Database from 'libsql'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { RejectReason } from '../domain/index.ts'

/** Row kinds in the journal: readings are deduplicated by (device, boot, seq), events by (device, ts, body). */
export const KIND_READING = 0
export const KIND_EVENT = 1

export interface JournalRow {
  id: number
  deviceId: string
  kind: number
  boot: number
  seq: number
  ts: number
  body: string
}

export interface PendingRow {
  deviceId: string
  kind: number
  boot: number
  seq: number
  ts: number
  body: string
}

export interface RejectRecord {
  id: string
  reason: RejectReason
  detail: string
  deviceId: string
  topicKind: string
  /** The first bytes of the payload, as UTF-8 with replacement characters (for inspection only). */
  payloadHead: string
  payloadBytes: number
  receivedAt: number
}

export type PendingReject = Omit<RejectRecord, 'id'>

const SCHEMA = `
CREATE TABLE IF NOT EXISTS journal (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  kind INTEGER NOT NULL,
  boot INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  body TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS journal_reading_key ON journal(device_id, boot, seq) WHERE kind = 0;
CREATE UNIQUE INDEX IF NOT EXISTS journal_event_key ON journal(device_id, ts, body) WHERE kind = 1;
CREATE INDEX IF NOT EXISTS journal_received ON journal(received_at);
CREATE TABLE IF NOT EXISTS cursor (one INTEGER PRIMARY KEY CHECK (one = 1), processed_id INTEGER NOT NULL);
INSERT OR IGNORE INTO cursor (one, processed_id) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS snapshots (device_id TEXT PRIMARY KEY, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejects (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  device_id TEXT NOT NULL,
  topic_kind TEXT NOT NULL,
  payload_head TEXT NOT NULL,
  payload_bytes INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
`

export interface CommitResult {
  /** Per pending row: the journal id, or 0 when it was a duplicate. */
  ids: number[]
}

export interface Journal {
  commit(rows: readonly PendingRow[], rejects: readonly PendingReject[], receivedAt: number): CommitResult
  processedCursor(): number
  rowsAfter(cursor: number, limit: number): JournalRow[]
  checkpoint(cursor: number, snapshots: Iterable<[string, string]>): void
  loadSnapshots(): Map<string, string>
  rejects(limit: number, afterId: number): RejectRecord[]
  pruneProcessed(olderThan: number): number
  close(): void
}

export function openJournal(dataDir: string | null, maxRejects: number): Journal {
  let path = ':memory:'
  if (dataDir !== null) {
    mkdirSync(dataDir, { recursive: true })
    path = join(dataDir, 'ingest.db')
  }
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  // FULL: the WAL is fsynced at every commit, so a PUBACK sent after commit survives power loss.
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 5000')
  db.exec(SCHEMA)

  const insertRow = db.prepare(
    'INSERT OR IGNORE INTO journal (device_id, kind, boot, seq, ts, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  )
  const insertReject = db.prepare(
    'INSERT INTO rejects (reason, detail, device_id, topic_kind, payload_head, payload_bytes, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  )
  const trimRejects = db.prepare('DELETE FROM rejects WHERE id <= (SELECT MAX(id) FROM rejects) - ?')
  const getCursor = db.prepare('SELECT processed_id AS c FROM cursor WHERE one = 1')
  const readCursor = (): number => Number((getCursor.get() as { c: number | bigint }).c)
  const setCursor = db.prepare('UPDATE cursor SET processed_id = ? WHERE one = 1')
  const upsertSnapshot = db.prepare(
    'INSERT INTO snapshots (device_id, snapshot) VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET snapshot = excluded.snapshot',
  )
  const selectAfter = db.prepare(
    'SELECT id, device_id AS deviceId, kind, boot, seq, ts, body FROM journal WHERE id > ? ORDER BY id LIMIT ?',
  )
  const selectSnapshots = db.prepare('SELECT device_id AS d, snapshot AS s FROM snapshots')
  const selectRejects = db.prepare(
    `SELECT id, reason, detail, device_id AS deviceId, topic_kind AS topicKind, payload_head AS payloadHead,
            payload_bytes AS payloadBytes, received_at AS receivedAt
       FROM rejects WHERE id > ? ORDER BY id LIMIT ?`,
  )
  const prune = db.prepare('DELETE FROM journal WHERE id <= ? AND received_at < ?')

  const commitTx = db.transaction((rows: readonly PendingRow[], rejects: readonly PendingReject[], at: number) => {
    const ids: number[] = new Array<number>(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as PendingRow
      const res = insertRow.run(r.deviceId, r.kind, r.boot, r.seq, r.ts, r.body, at)
      ids[i] = res.changes === 1 ? Number(res.lastInsertRowid) : 0
    }
    for (const j of rejects) {
      insertReject.run(j.reason, j.detail, j.deviceId, j.topicKind, j.payloadHead, j.payloadBytes, j.receivedAt)
    }
    if (rejects.length > 0) trimRejects.run(maxRejects)
    return { ids }
  })

  const checkpointTx = db.transaction((cursor: number, snapshots: Iterable<[string, string]>) => {
    for (const [deviceId, snapshot] of snapshots) upsertSnapshot.run(deviceId, snapshot)
    setCursor.run(cursor)
  })

  return {
    commit: (rows, rejects, at) => commitTx(rows, rejects, at) as CommitResult,
    processedCursor: readCursor,
    rowsAfter: (cursor, limit) => selectAfter.all(cursor, limit) as JournalRow[],
    checkpoint: (cursor, snapshots) => {
      checkpointTx(cursor, snapshots)
    },
    loadSnapshots: () => {
      const out = new Map<string, string>()
      for (const row of selectSnapshots.all() as { d: string; s: string }[]) out.set(row.d, row.s)
      return out
    },
    rejects: (limit, afterId) =>
      (selectRejects.all(afterId, limit) as (Omit<RejectRecord, 'id'> & { id: number })[]).map((r) => ({
        ...r,
        id: String(r.id),
      })),
    pruneProcessed: (olderThan) => prune.run(readCursor(), olderThan).changes,
    close: () => db.close(),
  }
}

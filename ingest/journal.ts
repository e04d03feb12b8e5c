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

export interface PendingRow {
  deviceId: string
  kind: number
  boot: number
  seq: number
  ts: number
  body: string
}

export interface JournalRow extends PendingRow {
  id: number
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
-- Pruning finds its cut-off by rowid (received_at grows with id); an index cost every insert.
DROP INDEX IF EXISTS journal_received;
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

/** Rows per multi-row INSERT (7 parameters each; SQLite allows 32,766). */
const CHUNK_ROWS = 64

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
  /**
   * Deletes rows the checkpointed cursor has passed that were committed before `olderThan`, and
   * beyond that every such row but the last `keepRows` (the journal's bound: ./index.ts).
   */
  pruneProcessed(olderThan: number, keepRows: number): number
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
  // After a WAL checkpoint the file is cut back to this size, so a burst does not leave it large.
  db.pragma('journal_size_limit = 16777216')
  db.exec(SCHEMA)

  const insertRow = db.prepare(
    'INSERT OR IGNORE INTO journal (device_id, kind, boot, seq, ts, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  )
  // One statement for many rows: each `run` crosses into native code, and per-row statements cost
  // about twice as much per reading as 64-row ones (test/ingest/bench-group-commit.ts).
  const insertMany = db.prepare(
    `INSERT OR IGNORE INTO journal (device_id, kind, boot, seq, ts, body, received_at) VALUES ${Array<string>(CHUNK_ROWS).fill('(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
  )
  const chunkArgs: unknown[] = new Array<unknown>(CHUNK_ROWS * 7)
  const savepoint = db.prepare('SAVEPOINT chunk')
  const release = db.prepare('RELEASE chunk')
  const rollbackChunk = db.prepare('ROLLBACK TO chunk')
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
  const firstAtOrAfter = db.prepare('SELECT id, received_at AS at FROM journal WHERE id >= ? ORDER BY id LIMIT 1')
  const prune = db.prepare('DELETE FROM journal WHERE id <= ?')

  /**
   * The last id ≤ `cursor` received before `olderThan`, by binary search over the rowid: rows are
   * committed in id order with the commit time as received_at, so received_at grows with id (a
   * clock stepping back only makes pruning keep rows longer or shorter; never past the cursor).
   */
  function pruneCutoff(cursor: number, olderThan: number): number {
    let lo = 0
    let hi = cursor
    while (lo < hi) {
      const mid = lo + Math.ceil((hi - lo) / 2)
      const row = firstAtOrAfter.get(mid) as { id: number | bigint; at: number | bigint } | undefined
      if (row !== undefined && Number(row.id) <= cursor && Number(row.at) < olderThan) lo = Number(row.id)
      else hi = mid - 1
    }
    return lo
  }

  function insertOneByOne(rows: readonly PendingRow[], from: number, to: number, at: number, ids: number[]): void {
    for (let i = from; i < to; i++) {
      const r = rows[i] as PendingRow
      const res = insertRow.run(r.deviceId, r.kind, r.boot, r.seq, r.ts, r.body, at)
      ids[i] = res.changes === 1 ? Number(res.lastInsertRowid) : 0
    }
  }

  /**
   * Full chunks go in as one multi-row INSERT. When every row was new, their ids are the
   * consecutive ones ending at lastInsertRowid (one writer, AUTOINCREMENT, VALUES in order); when
   * some were duplicates we cannot tell which, so the chunk is rolled back and inserted row by row
   * (rare: only redeliveries and re-uploads carry duplicates).
   */
  function insertRows(rows: readonly PendingRow[], at: number): number[] {
    const ids: number[] = new Array<number>(rows.length)
    let i = 0
    for (; i + CHUNK_ROWS <= rows.length; i += CHUNK_ROWS) {
      for (let k = 0; k < CHUNK_ROWS; k++) {
        const r = rows[i + k] as PendingRow
        const o = k * 7
        chunkArgs[o] = r.deviceId
        chunkArgs[o + 1] = r.kind
        chunkArgs[o + 2] = r.boot
        chunkArgs[o + 3] = r.seq
        chunkArgs[o + 4] = r.ts
        chunkArgs[o + 5] = r.body
        chunkArgs[o + 6] = at
      }
      savepoint.run()
      const res = insertMany.run(chunkArgs)
      if (res.changes === CHUNK_ROWS) {
        const last = Number(res.lastInsertRowid)
        for (let k = 0; k < CHUNK_ROWS; k++) ids[i + k] = last - CHUNK_ROWS + 1 + k
        release.run()
        continue
      }
      rollbackChunk.run()
      release.run()
      insertOneByOne(rows, i, i + CHUNK_ROWS, at, ids)
    }
    insertOneByOne(rows, i, rows.length, at, ids)
    return ids
  }

  const commitTx = db.transaction((rows: readonly PendingRow[], rejects: readonly PendingReject[], at: number) => {
    const ids = insertRows(rows, at)
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
    pruneProcessed: (olderThan, keepRows) => {
      const cursor = readCursor()
      // Ids are dense (one writer, AUTOINCREMENT; a rolled-back chunk gives its ids back), so
      // `cursor - keepRows` keeps about keepRows processed rows, never more.
      const cutoff = Math.max(pruneCutoff(cursor, olderThan), cursor - Math.max(0, keepRows))
      return cutoff > 0 ? prune.run(cutoff).changes : 0
    },
    close: () => db.close(),
  }
}

/**
 * The device history table on PostgreSQL: append with the hash chain (./hash-chain.ts, shared with
 * the embedded store), page through it, verify it. The head (seq, hash) lives on the device row,
 * so an append must run in a transaction that holds that row (`FOR UPDATE`, or a row it inserted).
 */
import type pg from 'pg'
import { GENESIS_HASH, entryHash, verifyChain, type ChainEntry } from './hash-chain.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import type { HistoryEntry, Page, PageOptions, VerifyResult } from './types.ts'

interface HistoryRow { device_id: string; seq: number; at: string; kind: string; data: string; prev_hash: string; hash: string }

// Same mapping as ./history.ts (not exported there).
const toEntry = (r: HistoryRow): ChainEntry => ({
  deviceId: r.device_id, seq: r.seq, at: r.at, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash,
})

async function headOf(c: pg.ClientBase, deviceId: string): Promise<{ seq: number; hash: string } | null> {
  const r = await c.query<{ seq: number; hash: string }>('SELECT history_seq AS seq, history_head AS hash FROM devices WHERE id = $1', [deviceId])
  return r.rows[0] ?? null
}

/** Call inside the transaction that makes the change it records, holding the device row. */
export async function appendHistory(c: pg.ClientBase, deviceId: string, at: string, kind: string, data: Record<string, unknown>): Promise<void> {
  const head = await headOf(c, deviceId)
  if (head === null) return
  const seq = head.seq + 1
  const prevHash = head.seq === 0 ? GENESIS_HASH : head.hash
  const dataJson = JSON.parse(JSON.stringify(data)) as Record<string, unknown>
  const hash = entryHash({ deviceId, seq, at, kind, data: dataJson, prevHash })
  await c.query('INSERT INTO history (device_id, seq, at, kind, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [deviceId, seq, at, kind, JSON.stringify(dataJson), prevHash, hash])
  await c.query('UPDATE devices SET history_seq = $1, history_head = $2 WHERE id = $3', [seq, hash, deviceId])
}

export async function listHistory(c: pg.ClientBase | pg.Pool, deviceId: string, opts: PageOptions): Promise<Page<HistoryEntry>> {
  const limit = pageSize(opts.limit)
  const { rows } = await c.query<HistoryRow>('SELECT * FROM history WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
    [deviceId, decodeSeqCursor(opts.after), limit + 1])
  const items = rows.slice(0, limit).map((r) => {
    const e = toEntry(r)
    return { seq: e.seq, at: e.at, kind: e.kind, data: e.data, prevHash: e.prevHash, hash: e.hash }
  })
  const last = items.at(-1)
  return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last.seq) : null }
}

/** Reads head and entries in one REPEATABLE READ snapshot, so a concurrent append is not a false alarm. */
export async function verifyHistory(c: pg.ClientBase, deviceId: string): Promise<VerifyResult | null> {
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
  try {
    const head = await headOf(c, deviceId)
    const result = head === null
      ? null
      : verifyChain((await c.query<HistoryRow>('SELECT * FROM history WHERE device_id = $1 ORDER BY seq', [deviceId])).rows.map(toEntry), head)
    await c.query('COMMIT')
    return result
  } catch (err) {
    await c.query('ROLLBACK')
    throw err
  }
}

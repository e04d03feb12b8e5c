/**
 * The device history table: append with the hash chain (./hash-chain.ts), page through it, verify
 * it. The head (seq, hash) lives on the device row, so an append runs in the transaction that
 * makes the change it records, holding that row.
 */
import type { HistoryEntry, Page, PageOptions, VerifyResult } from './types.ts'
import { GENESIS_HASH, entryHash, verifyChain, type ChainEntry } from './hash-chain.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'
import type { Dialect } from './dialect.ts'
import { change, first, prepare, rows, type Steps } from './run.ts'
import type { Database } from './schema.ts'

type HistoryRow = Database['history']

const toEntry = (r: HistoryRow): ChainEntry => ({
  deviceId: r.device_id, seq: r.seq, at: r.at, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash,
})

export function historyStatements({ db }: Dialect) {
  return {
    head: prepare((p: { id: string }) => db.selectFrom('devices').select(['history_seq as seq', 'history_head as hash']).where('id', '=', p.id)),
    insert: prepare((p: HistoryRow) => db.insertInto('history').values({
      device_id: p.device_id, seq: p.seq, at: p.at, kind: p.kind, data: p.data, prev_hash: p.prev_hash, hash: p.hash,
    })),
    setHead: prepare((p: { id: string; seq: number; hash: string }) => db.updateTable('devices').set({ history_seq: p.seq, history_head: p.hash }).where('id', '=', p.id)),
    page: prepare((p: { id: string; after: number; limit: number }) =>
      db.selectFrom('history').selectAll().where('device_id', '=', p.id).where('seq', '>', p.after).orderBy('seq').limit(p.limit)),
    all: prepare((p: { id: string }) => db.selectFrom('history').selectAll().where('device_id', '=', p.id).orderBy('seq')),
  }
}

export type HistoryStatements = ReturnType<typeof historyStatements>

/** Call inside the transaction that makes the change it records. */
export function* appendHistory(s: HistoryStatements, deviceId: string, at: string, kind: string, data: Record<string, unknown>): Steps<void> {
  const head = yield* first(s.head, { id: deviceId })
  if (head === undefined) return
  const seq = head.seq + 1
  const prevHash = head.seq === 0 ? GENESIS_HASH : head.hash
  const dataJson = JSON.parse(JSON.stringify(data)) as Record<string, unknown>
  const hash = entryHash({ deviceId, seq, at, kind, data: dataJson, prevHash })
  yield* change(s.insert, { device_id: deviceId, seq, at, kind, data: JSON.stringify(dataJson), prev_hash: prevHash, hash })
  yield* change(s.setHead, { id: deviceId, seq, hash })
}

export function* listHistory(s: HistoryStatements, deviceId: string, opts: PageOptions): Steps<Page<HistoryEntry>> {
  const limit = pageSize(opts.limit)
  const found = yield* rows(s.page, { id: deviceId, after: decodeSeqCursor(opts.after), limit: limit + 1 })
  const items = found.slice(0, limit).map((r) => {
    const e = toEntry(r)
    return { seq: e.seq, at: e.at, kind: e.kind, data: e.data, prevHash: e.prevHash, hash: e.hash }
  })
  const last = items.at(-1)
  return { items, next: found.length > limit && last !== undefined ? encodeCursor(last.seq) : null }
}

/** Null for an unknown device. Run in a snapshot, so a concurrent append is not a false alarm. */
export function* verifyHistory(s: HistoryStatements, deviceId: string): Steps<VerifyResult | null> {
  const head = yield* first(s.head, { id: deviceId })
  if (head === undefined) return null
  return verifyChain((yield* rows(s.all, { id: deviceId })).map(toEntry), head)
}

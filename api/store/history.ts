/** The device history table: append with the hash chain, page through it, verify it. */
import type Libsql from 'libsql'
import type { HistoryEntry, Page, PageOptions, VerifyResult } from './types.ts'
import { GENESIS_HASH, entryHash, verifyChain, type ChainEntry } from './hash-chain.ts'
import { decodeSeqCursor, encodeCursor, pageSize } from './cursor.ts'

interface HistoryRow { device_id: string; seq: number; at: string; kind: string; data: string; prev_hash: string; hash: string }

const toEntry = (r: HistoryRow): ChainEntry => ({
  deviceId: r.device_id, seq: r.seq, at: r.at, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash,
})

export class HistoryTable {
  private readonly head
  private readonly insert
  private readonly setHead
  private readonly page
  private readonly all

  constructor(db: Libsql.Database) {
    this.head = db.prepare('SELECT history_seq AS seq, history_head AS hash FROM devices WHERE id = ?')
    this.insert = db.prepare('INSERT INTO history (device_id, seq, at, kind, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.setHead = db.prepare('UPDATE devices SET history_seq = ?, history_head = ? WHERE id = ?')
    this.page = db.prepare('SELECT * FROM history WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?')
    this.all = db.prepare('SELECT * FROM history WHERE device_id = ? ORDER BY seq')
  }

  private headOf(deviceId: string): { seq: number; hash: string } | null {
    const r = this.head.get(deviceId) as { seq: number; hash: string } | undefined
    return r === undefined ? null : { seq: r.seq, hash: r.hash }
  }

  /** Call inside the transaction that makes the change it records. */
  append(deviceId: string, at: string, kind: string, data: Record<string, unknown>): void {
    const head = this.headOf(deviceId)
    if (head === null) return
    const seq = head.seq + 1
    const prevHash = head.seq === 0 ? GENESIS_HASH : head.hash
    const dataJson = JSON.parse(JSON.stringify(data)) as Record<string, unknown>
    const hash = entryHash({ deviceId, seq, at, kind, data: dataJson, prevHash })
    this.insert.run(deviceId, seq, at, kind, JSON.stringify(dataJson), prevHash, hash)
    this.setHead.run(seq, hash, deviceId)
  }

  list(deviceId: string, opts: PageOptions): Page<HistoryEntry> {
    const limit = pageSize(opts.limit)
    const rows = this.page.all(deviceId, decodeSeqCursor(opts.after), limit + 1) as HistoryRow[]
    const items = rows.slice(0, limit).map((r) => {
      const e = toEntry(r)
      return { seq: e.seq, at: e.at, kind: e.kind, data: e.data, prevHash: e.prevHash, hash: e.hash }
    })
    const last = items.at(-1)
    return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last.seq) : null }
  }

  verify(deviceId: string): VerifyResult | null {
    const head = this.headOf(deviceId)
    if (head === null) return null
    return verifyChain((this.all.all(deviceId) as HistoryRow[]).map(toEntry), head)
  }
}

/**
 * The device history's hash chain: each entry's hash covers its content and the previous entry's
 * hash, so editing, removing or reordering any entry breaks every hash after it.
 */
import { createHash } from 'node:crypto'
import type { VerifyResult } from '../schemas.ts'

export const GENESIS_HASH = '0'.repeat(64)

export interface ChainEntry {
  deviceId: string
  seq: number
  at: string
  kind: string
  data: Record<string, unknown>
  prevHash: string
  hash: string
}

/** JSON with object keys sorted, so the digest does not depend on property order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']'
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(obj[k])).join(',') + '}'
}

export function entryHash(e: Omit<ChainEntry, 'hash'>): string {
  return createHash('sha256')
    .update(e.prevHash)
    .update('\n')
    .update(canonicalJson({ deviceId: e.deviceId, seq: e.seq, at: e.at, kind: e.kind, data: e.data }))
    .digest('hex')
}

/**
 * Walks the entries in order and names the first that does not fit. `head` is the (seq, hash)
 * the device row remembers, which catches a truncated tail the chain alone cannot see.
 */
export function verifyChain(entries: Iterable<ChainEntry>, head: { seq: number; hash: string }): VerifyResult {
  let prev = GENESIS_HASH
  let expected = 1
  for (const e of entries) {
    if (e.seq !== expected) return { ok: false, firstBrokenSeq: expected, reason: `entry ${expected} is missing (found ${e.seq})` }
    if (e.prevHash !== prev) return { ok: false, firstBrokenSeq: e.seq, reason: 'previous-hash link does not match the entry before it' }
    if (entryHash(e) !== e.hash) return { ok: false, firstBrokenSeq: e.seq, reason: 'content does not match its hash (entry was altered)' }
    prev = e.hash
    expected++
  }
  const count = expected - 1
  if (count !== head.seq) return { ok: false, firstBrokenSeq: count + 1, reason: `history ends at ${count} but the device records ${head.seq} entries` }
  if (count > 0 && prev !== head.hash) return { ok: false, firstBrokenSeq: count, reason: 'last entry does not match the head hash the device records' }
  return { ok: true, entries: count }
}

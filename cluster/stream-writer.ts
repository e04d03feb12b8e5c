/**
 * The edge's commit point in cluster mode: ingest's group commit goes to the replicated stream
 * instead of the local journal (docs/scaling.md). A group's readings are appended together and
 * the group is committed when every append has the stream's ack (stored on a quorum), so ingest
 * resolves `accept`, and the broker sends the PUBACK, only after that. Rejects (bad input) stay
 * in the local journal's dead-letter table and never reach the stream.
 *
 * One stream message carries a partition's rows of one group (a JSON array, in arrival order),
 * not one row each: an append costs the client and the three nats-server nodes about as much for
 * a few rows as for one (`scripts/experiments/stream-append.ts`: ~95 + 78 µs of CPU per message
 * here), so the per-reading cost falls with the rows per message. A message's id is unique to
 * this writer, and a publish that failed (a timeout while the leader moves) is sent again under
 * the same id before the group fails: if the first one was stored after all, the stream drops
 * the second and acks it as a duplicate, which is the same success.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream'
import { fnv1a, partitionOf } from '../domain/index.ts'
import type { Committed, JournalWriter } from '../ingest/journal-writer.ts'
import { KIND_READING, type Journal, type PendingRow } from '../ingest/journal.ts'
import { subjectOf, type ClusterNames } from './nats.ts'

/** One journal row in a stream message, with short keys (it is the hot path's payload). */
export interface StreamRow { d: string; k: number; b: number; s: number; t: number; m: string }

export function encodeRow(r: PendingRow): string {
  return JSON.stringify({ d: r.deviceId, k: r.kind, b: r.boot, s: r.seq, t: r.ts, m: r.body } satisfies StreamRow)
}

/** A stream message's rows, from its parsed JSON: an array of rows, or (as written before batching) one row. */
export function rowsOf(v: StreamRow | StreamRow[]): StreamRow[] {
  return Array.isArray(v) ? v : [v]
}

/**
 * A reading's identity, (device, boot, seq) as in the journal; an event has no sequence, so
 * (device, ts, body). Kept for logs and tests; the stream dedupes whole messages.
 */
export function messageId(r: PendingRow): string {
  return r.kind === KIND_READING ? `${r.deviceId}:${r.boot}:${r.seq}` : `${r.deviceId}:e:${r.ts}:${fnv1a(r.body).toString(36)}`
}

/** A stream message's text stays under this (NATS' default max_payload is 1 MiB; a row holds at most one 256 KiB payload). */
export const MAX_MESSAGE_CHARS = 512 * 1024

export interface StreamWriterOptions {
  js: JetStreamClient
  names: ClusterNames
  /** The local journal: only its dead-letter table is written here. */
  journal: Journal
  /** Unique to this writer (the process's cluster id): message ids are `<id>:<n>`. */
  writerId: string
  /** How long one publish may wait for its ack (a node failing over takes a few seconds). */
  publishTimeoutMs?: number
  /** Sends of one message (same id) before its group fails and the devices resend. */
  attempts?: number
}

export interface StreamWriterStats {
  /** Rows stored in the stream, and the messages that carried them. */
  published: number
  messages: number
  /** Sends that failed and were repeated under the same id, and repeats the stream had stored already. */
  resent: number
  duplicates: number
  failedPublishes: number
}

/** A group's rows split into stream messages: per partition, in order, each under MAX_MESSAGE_CHARS. */
export function packRows(rows: readonly PendingRow[], partitions: number): { partition: number; text: string; rows: number }[] {
  const open = new Map<number, { parts: string[]; chars: number }>()
  const out: { partition: number; text: string; rows: number }[] = []
  const close = (p: number, m: { parts: string[] }): void => {
    out.push({ partition: p, text: `[${m.parts.join(',')}]`, rows: m.parts.length })
  }
  for (const r of rows) {
    const p = partitionOf(r.deviceId, partitions)
    const row = encodeRow(r)
    let m = open.get(p)
    if (m && m.chars + row.length + 1 > MAX_MESSAGE_CHARS) {
      close(p, m)
      m = undefined
    }
    if (!m) open.set(p, (m = { parts: [], chars: 2 }))
    m.parts.push(row)
    m.chars += row.length + 1
  }
  for (const [p, m] of open) close(p, m)
  return out
}

export function streamWriter(o: StreamWriterOptions): JournalWriter & { stats(): StreamWriterStats } {
  const timeout = o.publishTimeoutMs ?? 10_000
  const attempts = o.attempts ?? 3
  const subjects = Array.from({ length: o.names.partitions }, (_, p) => subjectOf(o.names, p))
  const stats: StreamWriterStats = { published: 0, messages: 0, resent: 0, duplicates: 0, failedPublishes: 0 }
  let tx = 0
  let sent = 0
  /** Ids handed to ingest: one per row, increasing in commit order (ingest's queue needs that). */
  let lastId = 0

  async function append(subject: string, text: string, msgID: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let ack: PubAck
      try {
        // retries: a publish that meets no stream leader (an election after a node left) is retried.
        ack = await o.js.publish(subject, text, { msgID, timeout, retries: 5 })
      } catch (err) {
        if (attempt >= attempts) throw err
        stats.resent++
        continue
      }
      // Only this writer uses this id: a duplicate is an earlier send of this message, stored.
      if (ack.duplicate) stats.duplicates++
      return
    }
  }

  return {
    // Publishes of later groups may go out while earlier ones wait for their acks.
    pipelined: true,
    async commit(rows, rejects, at) {
      if (rejects.length > 0) o.journal.commit([], rejects, at)
      const ids = new Array<number>(rows.length)
      for (let i = 0; i < rows.length; i++) ids[i] = ++lastId
      const messages = packRows(rows, o.names.partitions)
      const acks = messages.map((m) => append(subjects[m.partition] as string, m.text, `${o.writerId}:${++sent}`))
      try {
        await Promise.all(acks)
      } catch (err) {
        // Some may be stored: the device resends the whole message.
        stats.failedPublishes++
        await Promise.allSettled(acks)
        throw err
      }
      stats.published += rows.length
      stats.messages += messages.length
      return { ids, tx: ++tx } satisfies Committed
    },
    // The stream is the log; the edge has no cursor to record (workers checkpoint in KV).
    checkpoint: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stats: () => ({ ...stats }),
  }
}

/**
 * The edge's commit point in cluster mode: ingest's group commit goes to the replicated stream
 * instead of the local journal (docs/scaling.md). A group's readings are published together and
 * the group is committed when every one of them has the stream's ack (stored on a quorum), so
 * ingest resolves `accept`, and the broker sends the PUBACK, only after that. Rejects (bad input)
 * stay in the local journal's dead-letter table and never reach the stream.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream'
import { fnv1a, partitionOf } from '../domain/index.ts'
import type { Committed, JournalWriter } from '../ingest/journal-writer.ts'
import { KIND_READING, type Journal, type PendingRow } from '../ingest/journal.ts'
import { subjectOf, type ClusterNames } from './nats.ts'

/** A stream message: one journal row, with short keys (it is the hot path's payload). */
export interface StreamRow { d: string; k: number; b: number; s: number; t: number; m: string }

export function encodeRow(r: PendingRow): string {
  return JSON.stringify({ d: r.deviceId, k: r.kind, b: r.boot, s: r.seq, t: r.ts, m: r.body } satisfies StreamRow)
}

/**
 * The stream's dedupe key: a reading is (device, boot, seq), as in the journal; an event has no
 * sequence, so (device, ts, body).
 */
export function messageId(r: PendingRow): string {
  return r.kind === KIND_READING ? `${r.deviceId}:${r.boot}:${r.seq}` : `${r.deviceId}:e:${r.ts}:${fnv1a(r.body).toString(36)}`
}

export interface StreamWriterOptions {
  js: JetStreamClient
  names: ClusterNames
  /** The local journal: only its dead-letter table is written here. */
  journal: Journal
  /** How long one publish may wait for its ack (a node failing over takes a few seconds). */
  publishTimeoutMs?: number
}

export interface StreamWriterStats { published: number; duplicates: number; failedPublishes: number }

export function streamWriter(o: StreamWriterOptions): JournalWriter & { stats(): StreamWriterStats } {
  const timeout = o.publishTimeoutMs ?? 10_000
  const subjects = Array.from({ length: o.names.partitions }, (_, p) => subjectOf(o.names, p))
  const stats: StreamWriterStats = { published: 0, duplicates: 0, failedPublishes: 0 }
  let tx = 0
  return {
    // Publishes of later groups may go out while earlier ones wait for their acks.
    pipelined: true,
    async commit(rows, rejects, at) {
      if (rejects.length > 0) o.journal.commit([], rejects, at)
      const acks: Promise<PubAck>[] = new Array<Promise<PubAck>>(rows.length)
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i] as PendingRow
        const subject = subjects[partitionOf(r.deviceId, o.names.partitions)] as string
        // retries: a publish that meets no stream leader (an election after a node left) is retried.
        acks[i] = o.js.publish(subject, encodeRow(r), { msgID: messageId(r), timeout, retries: 5 })
      }
      let results: PubAck[]
      try {
        results = await Promise.all(acks)
      } catch (err) {
        // Some may be stored: the device resends the whole message, and the msg ids drop those.
        stats.failedPublishes++
        await Promise.allSettled(acks)
        throw err
      }
      const ids = results.map((a) => {
        if (a.duplicate) {
          stats.duplicates++
          return 0
        }
        stats.published++
        return a.seq
      })
      return { ids, tx: ++tx } satisfies Committed
    },
    // The stream is the log; the edge has no cursor to record (workers checkpoint in KV).
    checkpoint: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stats: () => ({ ...stats }),
  }
}

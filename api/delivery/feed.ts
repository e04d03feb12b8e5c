/**
 * Pull feed helpers for `GET /tickets/feed?after=CURSOR`, for ticketing systems that cannot be
 * reached from outside. The feed is the ticket changes in outbox order; each entry is the same
 * CloudEvent the webhook sends (same id = idempotency key), so one consumer handles both.
 *
 * The cursor is opaque to clients (base64url of a versioned sequence number) so its form can change
 * without breaking them. Unlike a page cursor it never ends: an empty page returns the cursor it
 * was given, and the client polls with it again later.
 */
import { toCloudEvent, type CloudEvent } from './webhook.ts'
import type { OutboxEvent, TicketForDelivery } from './types.ts'

const PREFIX = 'f1.'

export const encodeFeedCursor = (seq: number): string => Buffer.from(PREFIX + String(seq), 'utf8').toString('base64url')

export type FeedCursor = { ok: true; seq: number } | { ok: false; reason: string }

/** Missing or empty cursor: from the start. Bad input is a returned reason (a 400), not a throw. */
export function decodeFeedCursor(cursor: string | undefined | null): FeedCursor {
  if (cursor === undefined || cursor === null || cursor === '') return { ok: true, seq: 0 }
  if (cursor.length > 64 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return { ok: false, reason: 'feed cursor is not base64url' }
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!text.startsWith(PREFIX)) return { ok: false, reason: 'not a feed cursor' }
  const digits = text.slice(PREFIX.length)
  if (!/^\d{1,15}$/.test(digits)) return { ok: false, reason: 'not a feed cursor' }
  return { ok: true, seq: Number(digits) }
}

export interface FeedRow {
  /** Monotonic position of the change (the outbox row number). */
  seq: number
  /** Outbox job id: the event id and idempotency key. */
  id: string
  event: OutboxEvent
  ticket: TicketForDelivery
}

export interface FeedPage {
  items: CloudEvent[]
  /** Pass as `after` on the next request; equals the request's cursor when nothing was new. */
  cursor: string
  /** True when more entries are ready now (the page was full). */
  more: boolean
}

/**
 * Builds the page from rows read with `seq > after` in seq order and `limit + 1` rows asked for
 * (the extra row only says whether there is more).
 */
export function feedPage(rows: readonly FeedRow[], after: number, limit: number, source: string): FeedPage {
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return {
    items: page.map((r) => toCloudEvent(r.ticket, { idempotencyKey: r.id, event: r.event }, source)),
    cursor: encodeFeedCursor(last === undefined ? after : last.seq),
    more: rows.length > limit,
  }
}

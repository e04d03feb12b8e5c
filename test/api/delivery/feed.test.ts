import { describe, expect, it } from 'vitest'
import { decodeFeedCursor, encodeFeedCursor, feedPage, type FeedRow } from '../../../api/delivery/feed.ts'
import { sampleTicket } from './fixtures.ts'

describe('feed cursor', () => {
  it('round-trips and starts from the beginning without one', () => {
    for (const seq of [0, 1, 42, 9_007_199_254_740]) expect(decodeFeedCursor(encodeFeedCursor(seq))).toEqual({ ok: true, seq })
    expect(decodeFeedCursor(undefined)).toEqual({ ok: true, seq: 0 })
    expect(decodeFeedCursor('')).toEqual({ ok: true, seq: 0 })
  })

  it('returns a reason for anything it did not issue', () => {
    expect(decodeFeedCursor('not base64!')).toEqual({ ok: false, reason: 'feed cursor is not base64url' })
    expect(decodeFeedCursor(Buffer.from('42').toString('base64url'))).toEqual({ ok: false, reason: 'not a feed cursor' })
    expect(decodeFeedCursor(Buffer.from('f1.-3').toString('base64url'))).toEqual({ ok: false, reason: 'not a feed cursor' })
    expect(decodeFeedCursor(Buffer.from('f1.1e9').toString('base64url'))).toEqual({ ok: false, reason: 'not a feed cursor' })
    expect(decodeFeedCursor('A'.repeat(65))).toMatchObject({ ok: false })
  })
})

describe('feed page', () => {
  const rows: FeedRow[] = [
    { seq: 3, id: 'ob-3', event: 'ticket.created', ticket: sampleTicket('tk-a') },
    { seq: 5, id: 'ob-5', event: 'ticket.updated', ticket: sampleTicket('tk-a') },
    { seq: 9, id: 'ob-9', event: 'ticket.created', ticket: sampleTicket('tk-b') },
  ]

  it('gives CloudEvents, the cursor of the last entry, and whether more is ready', () => {
    const page = feedPage(rows, 0, 2, '/forewarn/tickets')
    expect(page.items.map((e) => [e.id, e.type, e.subject])).toEqual([
      ['ob-3', 'com.forewarn.ticket.opened', 'tk-a'],
      ['ob-5', 'com.forewarn.ticket.updated', 'tk-a'],
    ])
    expect(page.more).toBe(true)
    expect(decodeFeedCursor(page.cursor)).toEqual({ ok: true, seq: 5 })
  })

  it('keeps the cursor it was given when nothing is new', () => {
    expect(feedPage([], 9, 100, '/forewarn/tickets')).toEqual({ items: [], cursor: encodeFeedCursor(9), more: false })
  })
})

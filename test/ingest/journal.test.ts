import { describe, expect, it } from 'vitest'
import { KIND_EVENT, KIND_READING, openJournal, type PendingRow } from '../../ingest/journal.ts'

const reading = (seq: number, deviceId = 'd1'): PendingRow => ({ deviceId, kind: KIND_READING, boot: 1, seq, ts: 1000 + seq, body: `{"x":${seq}}` })
const range = (from: number, to: number): PendingRow[] => Array.from({ length: to - from }, (_, i) => reading(from + i))

describe('journal', () => {
  it('returns, per row, the id it is stored under (0 for a duplicate), through multi-row chunks and their row-by-row fallback', () => {
    const j = openJournal(null, 10)
    try {
      const rows = [...range(0, 100), ...range(50, 200), reading(7, 'd2'), reading(7, 'd2'), { ...reading(0), kind: KIND_EVENT, body: '{"code":"E1"}' }]
      const ids = [...j.commit(rows.slice(0, 100), [], 1).ids, ...j.commit(rows.slice(100), [], 2).ids]
      const stored = new Map(j.rowsAfter(0, 10_000).map((r) => [r.id, `${r.deviceId}:${r.kind}:${r.seq}`]))
      expect(stored.size).toBe(202)
      const expected = rows.map((r, i) => (i >= 100 && i < 150) || i === 251 ? 'dup' : `${r.deviceId}:${r.kind}:${r.seq}`)
      expect(ids.map((id) => (id === 0 ? 'dup' : stored.get(id)))).toEqual(expected)
      const inserted = ids.filter((id) => id > 0)
      // Strictly increasing in row order: the order the readings are handed to the detector.
      expect(inserted.every((id, i) => i === 0 || id > (inserted[i - 1] as number))).toBe(true)
    } finally {
      j.close()
    }
  })
})

/** Device ownership and stream partitions: pure functions of the device id (docs/scaling.md). */
import { describe, expect, it } from 'vitest'
import { ownerOf, partitionOf } from '../../domain/index.ts'

const ids = Array.from({ length: 6400 }, (_, i) => `dev-${i.toString(36)}`)

describe('partitionOf', () => {
  it('is a fixed function of the id, in range, and spreads devices over all partitions', () => {
    expect(partitionOf('dev-abc', 64)).toBe(partitionOf('dev-abc', 64))
    const counts = new Array<number>(64).fill(0)
    for (const id of ids) {
      const p = partitionOf(id, 64)
      expect(Number.isInteger(p) && p >= 0 && p < 64).toBe(true)
      counts[p]!++
    }
    // 100 per partition on average; none empty, none more than twice that.
    expect(Math.min(...counts)).toBeGreaterThan(50)
    expect(Math.max(...counts)).toBeLessThan(200)
  })
})

describe('ownerOf over partitions', () => {
  it('moves only the partitions a joining worker wins', () => {
    const parts = Array.from({ length: 64 }, (_, p) => `p${p}`)
    const two = parts.map((p) => ownerOf(p, ['w1', 'w2']))
    const three = parts.map((p) => ownerOf(p, ['w1', 'w2', 'w3']))
    for (let i = 0; i < parts.length; i++) if (three[i] !== two[i]) expect(three[i]).toBe('w3')
    expect(three.filter((o) => o === 'w3').length).toBeGreaterThan(10)
  })
})

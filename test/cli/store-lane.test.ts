/**
 * cli/store-lane.ts: the ordered lane of records-store writes. The failures are real errors (a
 * PostgreSQL port nobody listens on refuses the connection); the calls that fail them a given
 * number of times stand in for a store that comes back.
 */
import pg from 'pg'
import pino from 'pino'
import { beforeAll, describe, expect, it } from 'vitest'
import { createStoreLane } from '../../cli/store-lane.ts'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { freePort } from '../services/process.ts'

let refused: unknown
beforeAll(async () => {
  const client = new pg.Client({ host: '127.0.0.1', port: await freePort() })
  refused = await client.connect().then(() => null, (e: unknown) => e)
  expect((refused as { code?: string }).code).toBe('ECONNREFUSED')
})

function logged(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = []
  return { lines, log: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) }) }
}

/** A store call that fails `times` times with `err`, then answers `value`. */
function flaky<T>(times: number, err: unknown, value: T): { call: () => Promise<T>; attempts: () => number } {
  let n = 0
  return { call: async () => (++n <= times ? Promise.reject(err) : value), attempts: () => n }
}

describe('store lane', () => {
  it('retries a write the store fails transiently until it is stored; settled() waits for it; said once', async () => {
    const { log, lines } = logged()
    const retries: [string, boolean][] = []
    const lane = createStoreLane({ log, minDelayMs: 5, maxDelayMs: 20, onRetry: (op, r) => retries.push([op, r]) })
    const w = flaky(6, refused, 'stored')
    let out: string | null = null
    void lane.run('storing a detector event', async () => { out = await lane.write('storing a detector event', w.call) })
    let settled = false
    const s = lane.settled().then(() => { settled = true })
    await new Promise((r) => setTimeout(r, 15))
    expect(settled).toBe(false)
    expect(lane.outage()).toMatchObject({ op: 'storing a detector event', retriable: true })
    await s
    expect(out).toBe('stored')
    expect(w.attempts()).toBe(7)
    expect(retries).toEqual(Array(6).fill(['storing a detector event', true]))
    expect(lane.outage()).toBeNull()
    expect(lines.map((l) => l.msg.split(':')[0])).toEqual(['records store unavailable', 'records store writes succeed again; the held effects are stored in order'])
  })

  it('keeps order: a later write waits behind one being retried', async () => {
    const lane = createStoreLane({ log: pino({ level: 'silent' }), minDelayMs: 5, maxDelayMs: 10 })
    const order: string[] = []
    const first = flaky(3, refused, undefined)
    void lane.run('a', async () => { await lane.write('a', first.call); order.push('a') })
    void lane.run('b', async () => { await lane.write('b', async () => undefined); order.push('b') })
    await lane.settled()
    expect(order).toEqual(['a', 'b'])
  })

  it('retries an unclassified STORE error too, on the slow cap; ends a write only on the store\'s verdict', async () => {
    const lane = createStoreLane({ log: pino({ level: 'silent' }), minDelayMs: 5, maxDelayMs: 10, maxDelayUnknownMs: 10 })
    const odd = flaky(2, new ForewarnError(ErrorCode.STORE, 'something odd', { retriable: false }), 1)
    const verdict = flaky(5, new ForewarnError(ErrorCode.UNKNOWN_DEVICE, 'unknown device d1'), 1)
    const results: string[] = []
    void lane.run('odd', async () => { results.push(`odd ${await lane.write('odd', odd.call)}`) })
    void lane.run('verdict', async () => { results.push(`verdict ${await lane.write('verdict', verdict.call)}`) })
    void lane.run('after', async () => { results.push('after') })
    await lane.settled()
    expect(results).toEqual(['odd 1', 'after'])
    expect([odd.attempts(), verdict.attempts()]).toEqual([3, 1])
  })

  it('at shutdown gives a failing write up: settled() rejects from then on, writes that succeed still run', async () => {
    const lane = createStoreLane({ log: pino({ level: 'silent' }), minDelayMs: 5, maxDelayMs: 10 })
    const down = flaky(1_000_000, refused, undefined)
    let later = false
    void lane.run('held', async () => { await lane.write('held', down.call) })
    void lane.run('later', async () => { await lane.write('later', async () => { later = true }) })
    await new Promise((r) => setTimeout(r, 30))
    lane.abandon()
    await expect(lane.settled()).rejects.toMatchObject({ code: ErrorCode.STORE })
    expect(later).toBe(true)
    expect(lane.lost()).toBe(true)
  })
})

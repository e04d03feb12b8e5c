import { describe, expect, it } from 'vitest'
import { ErrorCode, ForewarnError } from '../../../domain/index.ts'
import { backoffDelayMs, createDeliveryWorker, type JobOutcome } from '../../../api/delivery/worker.ts'
import { createMemoryOutbox } from '../../../api/delivery/memory-outbox.ts'
import type { DeliveryAdapter, DeliveryContext, TicketForDelivery } from '../../../api/delivery/types.ts'
import { sampleTicket } from './fixtures.ts'

const retriable = () => new ForewarnError(ErrorCode.DELIVERY, 'receiver answered 503', { retriable: true })
const permanent = () => new ForewarnError(ErrorCode.DELIVERY, 'receiver answered 400', { retriable: false })

/** An adapter that plays a script of outcomes, one per call, and records what it was asked. */
function scripted(name: string, script: Array<'ok' | 'retry' | 'fail' | 'throw'>) {
  const calls: Array<{ ticketId: string; ctx: DeliveryContext }> = []
  const adapter: DeliveryAdapter = {
    name,
    async deliver(ticket: TicketForDelivery, ctx: DeliveryContext) {
      calls.push({ ticketId: ticket.id, ctx })
      const step = script.shift() ?? 'ok'
      if (step === 'retry') throw retriable()
      if (step === 'fail') throw permanent()
      if (step === 'throw') throw new TypeError('bug in adapter')
      return { externalRef: `ext-${ticket.id}` }
    },
  }
  return { adapter, calls }
}

function setup(script: Array<'ok' | 'retry' | 'fail' | 'throw'>, opts: { maxAttempts?: number; random?: () => number } = {}) {
  let clock = 1_000_000
  const outbox = createMemoryOutbox()
  const { adapter, calls } = scripted('test', script)
  const outcomes: JobOutcome[] = []
  const worker = createDeliveryWorker({
    outbox, adapters: [adapter], maxAttempts: opts.maxAttempts ?? 4, baseDelayMs: 1_000, maxDelayMs: 8_000,
    pollMs: 50, now: () => clock, random: opts.random ?? (() => 0.5), onOutcome: (o) => outcomes.push(o),
  })
  return { outbox, worker, calls, outcomes, advance: (ms: number) => (clock += ms), now: () => clock }
}

describe('backoffDelayMs (full jitter)', () => {
  it('draws uniformly below min(max, base·2^(n−1))', () => {
    expect(backoffDelayMs(1, 1_000, 8_000, () => 0.999999)).toBe(999)
    expect(backoffDelayMs(2, 1_000, 8_000, () => 0.5)).toBe(1_000)
    expect(backoffDelayMs(3, 1_000, 8_000, () => 0.5)).toBe(2_000)
    expect(backoffDelayMs(4, 1_000, 8_000, () => 0.5)).toBe(4_000)
    expect(backoffDelayMs(10, 1_000, 8_000, () => 0.5)).toBe(4_000)
    expect(backoffDelayMs(60, 1_000, 8_000, () => 0.999999)).toBe(7_999)
    expect(backoffDelayMs(3, 1_000, 8_000, () => 0)).toBe(0)
  })

  it('stays within [0, ceiling) for any random draw', () => {
    let seed = 7
    const lcg = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
    for (let n = 1; n <= 20; n++) {
      const ceiling = Math.min(8_000, 1_000 * 2 ** (n - 1))
      for (let i = 0; i < 50; i++) {
        const d = backoffDelayMs(n, 1_000, 8_000, lcg)
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThan(ceiling)
      }
    }
  })
})

describe('delivery worker', () => {
  it('delivers a due job once and records the external reference', async () => {
    const t = setup(['ok'])
    const job = t.outbox.enqueue(sampleTicket(), 'test', t.now())
    expect(await t.worker.runOnce()).toEqual({ claimed: 1, delivered: 1, retried: 0, dead: 0, deferred: 0 })
    expect(t.outbox.get(job.id)).toMatchObject({ state: 'delivered', externalRef: 'ext-tk-abcdefghijkl' })
    expect(t.calls).toEqual([{ ticketId: 'tk-abcdefghijkl', ctx: { attempt: 1, idempotencyKey: job.id, event: 'ticket.created' } }])
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 0 })
  })

  it('retries with backoff, keeps the idempotency key, and is not due before the backoff', async () => {
    const t = setup(['retry', 'retry', 'ok'], { random: () => 0.5 })
    const job = t.outbox.enqueue(sampleTicket(), 'test', t.now())
    const start = t.now()
    await t.worker.runOnce()
    expect(t.outbox.get(job.id)).toMatchObject({ state: 'pending', nextAttemptAtMs: start + 500, lastError: 'receiver answered 503' })
    t.advance(499)
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 0 })
    t.advance(1)
    await t.worker.runOnce()
    expect(t.outbox.get(job.id)).toMatchObject({ state: 'pending', nextAttemptAtMs: start + 500 + 1_000 })
    t.advance(1_000)
    await t.worker.runOnce()
    expect(t.outbox.get(job.id)?.state).toBe('delivered')
    expect(t.calls.map((c) => c.ctx)).toEqual([1, 2, 3].map((attempt) => ({ attempt, idempotencyKey: job.id, event: 'ticket.created' })))
  })

  it('dead-letters after maxAttempts, then a replay delivers it', async () => {
    const t = setup(['retry', 'retry', 'retry', 'ok'], { maxAttempts: 3, random: () => 0 })
    const job = t.outbox.enqueue(sampleTicket(), 'test', t.now())
    for (let i = 0; i < 3; i++) await t.worker.runOnce()
    expect(t.outbox.get(job.id)).toMatchObject({ state: 'dead', job: { attempts: 3 } })
    expect(t.outcomes.map((o) => o.result)).toEqual(['retry', 'retry', 'dead'])
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 0 })
    expect(t.outbox.listDead(10)).toEqual({ items: [{ ...job, attempts: 3, lastError: 'receiver answered 503' }], next: null })

    expect(t.outbox.replayDead(job.id)).toBe(true)
    expect(t.outbox.replayDead(job.id)).toBe(false)
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 1, delivered: 1 })
    expect(t.calls.at(-1)?.ctx).toEqual({ attempt: 1, idempotencyKey: job.id, event: 'ticket.created' })
    expect(t.outbox.listDead(10).items).toEqual([])
  })

  it('dead-letters a non-retriable failure at once', async () => {
    const t = setup(['fail'])
    const job = t.outbox.enqueue(sampleTicket(), 'test', t.now())
    expect(await t.worker.runOnce()).toMatchObject({ dead: 1, retried: 0 })
    expect(t.outbox.get(job.id)).toMatchObject({ state: 'dead', lastError: 'receiver answered 400', job: { attempts: 1 } })
  })

  it('retries an unexpected (non-Forewarn) error, and dead-letters a job for an unknown adapter', async () => {
    const t = setup(['throw', 'ok'])
    const a = t.outbox.enqueue(sampleTicket('tk-a'), 'test', t.now())
    const b = t.outbox.enqueue(sampleTicket('tk-b'), 'jira', t.now())
    await t.worker.runOnce()
    expect(t.outbox.get(a.id)).toMatchObject({ state: 'pending', lastError: 'bug in adapter' })
    expect(t.outbox.get(b.id)).toMatchObject({ state: 'dead', lastError: 'no delivery adapter named jira is configured' })
  })

  it('runs jobs of one ticket in order and defers the later ones when the first fails', async () => {
    const t = setup(['retry', 'ok', 'ok', 'ok'], { random: () => 0 })
    const first = t.outbox.enqueue(sampleTicket('tk-a'), 'test', t.now())
    const second = t.outbox.enqueue(sampleTicket('tk-a'), 'test', t.now(), 'ticket.updated')
    const other = t.outbox.enqueue(sampleTicket('tk-b'), 'test', t.now())
    expect(await t.worker.runOnce()).toEqual({ claimed: 3, delivered: 1, retried: 1, dead: 0, deferred: 1 })
    expect(t.outbox.get(second.id)).toMatchObject({ state: 'pending', job: { attempts: 0 }, lastError: `waiting for ${first.id} of the same ticket` })
    expect(t.outbox.get(other.id)?.state).toBe('delivered')
    t.advance(1_000)
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 2, delivered: 2 })
    expect(t.calls.filter((c) => c.ticketId === 'tk-a').map((c) => c.ctx.idempotencyKey)).toEqual([first.id, first.id, second.id])
  })

  it('a later change of a ticket waits while the earlier one backs off, and never overtakes it', async () => {
    const t = setup(['retry', 'retry', 'ok', 'ok'], { random: () => 0.999 })
    const first = t.outbox.enqueue(sampleTicket('tk-a'), 'test', t.now())
    await t.worker.runOnce()
    const second = t.outbox.enqueue(sampleTicket('tk-a'), 'test', t.now(), 'ticket.updated')
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 0 })
    t.advance(t.outbox.get(first.id)!.nextAttemptAtMs - t.now())
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 2, retried: 1, deferred: 1 })
    t.advance(t.outbox.get(first.id)!.nextAttemptAtMs - t.now())
    expect(await t.worker.runOnce()).toMatchObject({ claimed: 2, delivered: 2 })
    expect(t.calls.map((c) => c.ctx.idempotencyKey)).toEqual([first.id, first.id, first.id, second.id])
  })

  it('start() polls until stop(), which waits for the run in flight', async () => {
    const outbox = createMemoryOutbox()
    const { adapter } = scripted('test', [])
    const worker = createDeliveryWorker({ outbox, adapters: [adapter], maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 100, pollMs: 5 })
    worker.start()
    const job = outbox.enqueue(sampleTicket(), 'test', Date.now())
    for (let i = 0; i < 200 && outbox.get(job.id)?.state !== 'delivered'; i++) await new Promise((r) => setTimeout(r, 5))
    await worker.stop()
    expect(outbox.get(job.id)?.state).toBe('delivered')
  })

  it('rejects a bad configuration with a CONFIG error', () => {
    const outbox = createMemoryOutbox()
    expect(() => createDeliveryWorker({ outbox, adapters: [], maxAttempts: 0, baseDelayMs: 1, maxDelayMs: 1, pollMs: 1 }))
      .toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }))
    expect(() => createDeliveryWorker({ outbox, adapters: [], maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 1, pollMs: 1 }))
      .toThrow(/baseDelayMs/)
  })
})

describe('two workers sharing an outbox with a lease', () => {
  it('a slow batch starts no job past half its lease, so a job claimed again is sent once', async () => {
    let clock = 1_000_000
    const outbox = createMemoryOutbox({ leaseMs: 1_000 })
    const sent: string[] = []
    // Each delivery takes 400 ms of the shared clock.
    const slow: DeliveryAdapter = {
      name: 'test',
      async deliver(ticket: TicketForDelivery) {
        sent.push(ticket.id)
        clock += 400
        return { externalRef: `ext-${ticket.id}` }
      },
    }
    const make = () => createDeliveryWorker({
      outbox, adapters: [slow], maxAttempts: 4, baseDelayMs: 1_000, maxDelayMs: 8_000, pollMs: 50, concurrency: 1, leaseMs: 1_000, now: () => clock,
    })
    const [a, b] = [make(), make()]
    for (let i = 0; i < 4; i++) outbox.enqueue(sampleTicket(`tk-lease0000${i}`), 'test', clock)
    // A claims all four and starts the first two (0 and 400 ms into its lease); at 800 ms it
    // leaves the rest, which lapse back at 1,000 ms and go to B.
    expect(await a.runOnce()).toMatchObject({ claimed: 4, delivered: 2 })
    expect(await b.runOnce()).toMatchObject({ claimed: 0 })
    clock += 200
    expect(await b.runOnce()).toMatchObject({ claimed: 2, delivered: 2 })
    expect(sent).toEqual(['tk-lease00000', 'tk-lease00001', 'tk-lease00002', 'tk-lease00003'])
  })
})

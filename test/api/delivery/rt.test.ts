import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createMemoryOutbox } from '../../../api/delivery/memory-outbox.ts'
import { createRtAdapter, UNANSWERED_SETTLE, type RtAdapter } from '../../../api/delivery/rt.ts'
import { rtBody, rtSubject } from '../../../api/delivery/rt-text.ts'
import { createDeliveryWorker } from '../../../api/delivery/worker.ts'
import { ErrorCode } from '../../../domain/index.ts'
import { describeService } from '../../services/availability.ts'
import { startRestartableRt, type RestartableRt } from './rt-server.ts'
import { sampleTicket } from './fixtures.ts'
import { SECRET, startReceiver } from './receiver.ts'
import { openStore, type Store } from '../../../api/store/index.ts'
import { createWebhookAdapter } from '../../../api/delivery/webhook.ts'
import { removeDir, tempDir } from '../../services/process.ts'
import { event, fridge } from '../fixtures.ts'

const RT_OUTAGE_MS = Number(process.env.FOREWARN_RT_OUTAGE_MS ?? 60_000)

describeService('request-tracker', 'Request Tracker adapter against a real RT 5', () => {
  let rt: RestartableRt
  let adapter: RtAdapter

  beforeAll(async () => {
    rt = await startRestartableRt()
    adapter = createRtAdapter({ url: rt.url, auth: { kind: 'basic', user: rt.user, password: rt.password }, queue: 'General', timeoutMs: 5_000 })
  })
  afterAll(async () => {
    await rt?.stop()
  })

  const rest = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${rt.url}/REST/2.0${path}`, {
      ...init, headers: { authorization: rt.authorization, 'content-type': 'application/json' }, signal: AbortSignal.timeout(5_000),
    })
    expect(res.ok, `${path}: HTTP ${res.status}`).toBe(true)
    return (await res.json()) as T
  }

  it('creates the ticket once, in the queue, with the subject and the technician text', async () => {
    const ticket = sampleTicket('tk-create00001')
    const { externalRef } = await adapter.deliver(ticket, { attempt: 1, idempotencyKey: 'ob-1', event: 'ticket.created' })
    expect(externalRef).toMatch(/^\d+$/)
    expect(await adapter.findTickets(ticket.id)).toEqual([externalRef])
    const got = await rest<{ Subject: string; Status: string; Queue: { id: string }; Priority: string }>(`/ticket/${externalRef}`)
    expect(got).toMatchObject({ Subject: rtSubject(ticket), Status: 'new', Queue: { id: '1' }, Priority: '90' })
    expect(got.Subject).toBe('[Forewarn tk-create00001] REF-CFAN Condenser fan failure — serial SIM-00005')
    const history = await rest<{ items: Array<{ _url: string }> }>(`/ticket/${externalRef}/history`)
    const create = await rest<{ _hyperlinks: Array<{ ref: string; _url: string }> }>(new URL(history.items[0]?._url ?? '').pathname.replace('/REST/2.0', ''))
    const attachment = create._hyperlinks.find((l) => l.ref === 'attachment')
    expect(attachment).toBeDefined()
    const content = await rest<{ Content: string }>(new URL(attachment?._url ?? '').pathname.replace('/REST/2.0', ''))
    expect(Buffer.from(content.Content, 'base64').toString('utf8').trim()).toBe(rtBody(ticket))
  })

  it('a second delivery of the same ticket (crash before markDelivered) reuses the RT ticket', async () => {
    const ticket = sampleTicket('tk-crash000001')
    const outbox = createMemoryOutbox()
    const job = outbox.enqueue(ticket, 'rt', Date.now())
    // The first worker delivered, then died before recording it: the job is still pending.
    const first = await adapter.deliver(ticket, { attempt: 1, idempotencyKey: job.id, event: 'ticket.created' })
    const worker = createDeliveryWorker({ outbox, adapters: [adapter], maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20, pollMs: 10 })
    expect(await worker.runOnce()).toMatchObject({ delivered: 1 })
    expect(outbox.get(job.id)).toMatchObject({ state: 'delivered', externalRef: first.externalRef })
    expect(await adapter.findTickets(ticket.id)).toEqual([first.externalRef])
    // tk-crash00000 is a prefix of the other id: the exact marker keeps them apart.
    expect(await adapter.findTickets('tk-crash00000')).toEqual([])
    // A later change (a joined warning lowered to P3 here, to see it) updates the same RT ticket.
    const later = await adapter.deliver({ ...ticket, priority: 'P3' }, { attempt: 1, idempotencyKey: 'ob-u', event: 'ticket.updated' })
    expect(later).toEqual(first)
    expect(await rest<{ Priority: string }>(`/ticket/${first.externalRef}`)).toMatchObject({ Priority: '30' })
  })

  it('reads status changes made in RT back as Forewarn states', async () => {
    const start = await adapter.pollUpdates(null)
    const ticket = sampleTicket('tk-status00001')
    const { externalRef } = await adapter.deliver(ticket, { attempt: 1, idempotencyKey: 'ob-s', event: 'ticket.created' })
    for (const Status of ['open', 'stalled', 'resolved']) {
      await rest(`/ticket/${externalRef}`, { method: 'PUT', body: JSON.stringify({ Status }) })
    }
    const page = await adapter.pollUpdates(start.cursor)
    expect(page.updates.map(({ ticketId, state, externalRef: ref }) => ({ ticketId, state, ref }))).toEqual([
      { ticketId: ticket.id, state: 'acknowledged', ref: externalRef },
      { ticketId: ticket.id, state: 'scheduled', ref: externalRef },
      { ticketId: ticket.id, state: 'resolved', ref: externalRef },
    ])
    for (const u of page.updates) expect(Math.abs(Date.parse(u.at) - Date.now())).toBeLessThan(60_000)
    expect(await adapter.pollUpdates(page.cursor)).toEqual({ updates: [], cursor: page.cursor })
  })

  it('two RT tickets for one Forewarn ticket (a create that landed late): the oldest is kept, the other rejected and not read back as ours', async () => {
    const ticket = sampleTicket('tk-dupe0000001')
    const start = await adapter.pollUpdates(null)
    const made: string[] = []
    for (let i = 0; i < 2; i++) {
      const created = await rest<{ id: number }>('/ticket', {
        method: 'POST', body: JSON.stringify({ Queue: 'General', Subject: rtSubject(ticket), Content: rtBody(ticket), ContentType: 'text/plain' }),
      })
      made.push(String(created.id))
    }
    const { externalRef } = await adapter.deliver({ ...ticket, priority: 'P3' }, { attempt: 1, idempotencyKey: 'ob-d', event: 'ticket.updated' })
    expect(externalRef).toBe(made[0])
    expect(await adapter.findTickets(ticket.id)).toEqual([made[0]])
    expect(await rest<{ Subject: string; Status: string }>(`/ticket/${made[1]}`)).toMatchObject({
      Subject: `Duplicate of #${made[0]} (Forewarn ticket ${ticket.id})`, Status: 'rejected',
    })
    // Rejecting the duplicate is not a cancellation of the Forewarn ticket.
    expect((await adapter.pollUpdates(start.cursor)).updates.filter((u) => u.ticketId === ticket.id)).toEqual([])
  })

  it('a create RT answers only after the deadline: the retry waits for it, finds it, and makes no second ticket', async () => {
    // A proxy in front of the real RT holds each create 800 ms before passing it on; the adapter
    // gives up after 500 ms, while RT still makes the ticket once the create reaches it.
    let inFlight = 0
    const proxy = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      inFlight++
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const hold = req.method === 'POST' && req.url === '/REST/2.0/ticket' ? 800 : 0
        setTimeout(() => {
          const headers = { ...req.headers }
          delete headers.host
          fetch(`${rt.url}${req.url ?? '/'}`, { method: req.method, headers: headers as Record<string, string>, body: req.method === 'GET' ? undefined : Buffer.concat(chunks) })
            .then(async (r) => { res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }); res.end(Buffer.from(await r.arrayBuffer())) })
            .catch(() => { res.writeHead(502); res.end() })
            .finally(() => { inFlight-- })
        }, hold)
      })
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    const port = (proxy.address() as { port: number }).port
    try {
      const slow = createRtAdapter({ url: `http://127.0.0.1:${port}`, auth: { kind: 'basic', user: rt.user, password: rt.password }, queue: 'General', timeoutMs: 500 })
      const ticket = sampleTicket('tk-slow0000001')
      const outbox = createMemoryOutbox()
      const job = outbox.enqueue(ticket, 'rt', Date.now())
      const retries: number[] = []
      const worker = createDeliveryWorker({
        outbox, adapters: [slow], maxAttempts: 10, baseDelayMs: 10, maxDelayMs: 20, pollMs: 10,
        onOutcome: (o) => { if (o.result === 'retry') retries.push(o.nextAttemptAtMs - Date.now()) },
      })
      for (let i = 0; i < 200 && outbox.get(job.id)?.state !== 'delivered'; i++) {
        await worker.runOnce()
        await sleep(25)
      }
      expect(outbox.get(job.id)).toMatchObject({ state: 'delivered' })
      // Every create the adapter gave up on has reached RT by now.
      for (let i = 0; i < 200 && inFlight > 0; i++) await sleep(25)
      expect(inFlight).toBe(0)
      expect(await adapter.findTickets(ticket.id)).toEqual([outbox.get(job.id)?.externalRef])
      // The unanswered create set the wait: UNANSWERED_SETTLE deadlines, not the 10–20 ms backoff.
      expect(retries[0]).toBeGreaterThan((UNANSWERED_SETTLE - 1) * 500)
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()))
    }
  }, 60_000)

  it('bad credentials are a non-retriable delivery error', async () => {
    const wrong = createRtAdapter({ url: rt.url, auth: { kind: 'basic', user: 'root', password: 'nope' }, queue: 'General', timeoutMs: 5_000 })
    await expect(wrong.deliver(sampleTicket('tk-auth0000001'), { attempt: 1, idempotencyKey: 'ob-a', event: 'ticket.created' }))
      .rejects.toMatchObject({ code: ErrorCode.DELIVERY, retriable: false })
  })

  it('exactly once end to end: killed before and after delivering, RT down while due, webhook 500 and timing out', async () => {
    const dataDir = tempDir('delivery-e2e')
    const rx = await startReceiver(['fail500', 'acceptThenHang'])
    const open = (): Store => openStore({ dataDir, deliveryAdapters: ['rt', 'webhook'], publicUrl: 'http://forewarn.test' })
    const adapters = [adapter, createWebhookAdapter({ url: rx.url, secret: SECRET, timeoutMs: 300, source: '/forewarn/test' })]
    try {
      // Two tickets written; Forewarn is "killed" (store closed) before any delivery.
      let store = open()
      const ids: string[] = []
      for (const serial of ['SN-E2E-1', 'SN-E2E-2']) {
        const { device } = store.createDevice({ ...fridge, serial })
        ids.push(store.applyDetectorEvent(event(device.id, { severity: 'critical' }), Date.now()).ticket?.id ?? '')
      }
      // The first ticket's jobs were delivered but the process died before recording it.
      const port = store.outboxPort({ leaseMs: 0 })
      for (const job of port.claimDue(Date.now(), 10).filter((j) => j.ticketId === ids[0])) {
        const a = adapters.find((x) => x.name === job.adapter)
        await a?.deliver(job.payload, { attempt: 1, idempotencyKey: job.id, event: job.event }).catch(() => undefined)
      }
      store.close()

      // Restarted while RT is down.
      await rt.pause()
      store = open()
      const outbox = store.outboxPort({ leaseMs: 0 })
      const worker = createDeliveryWorker({ outbox, adapters, maxAttempts: 100, baseDelayMs: 20, maxDelayMs: 2000, pollMs: 10 })
      // Issue 6: Request Tracker down for 60 s while the tickets are due (FOREWARN_RT_OUTAGE_MS to change it).
      const outageEnds = Date.now() + RT_OUTAGE_MS
      while (Date.now() < outageEnds) {
        await worker.runOnce()
        await sleep(200)
      }
      const rtJobs = store.listOutbox({ limit: 100, adapter: 'rt' }).items
      expect(rtJobs.map((r) => r.state)).toEqual(['pending', 'pending'])
      expect(rtJobs.every((r) => r.attempts >= 1)).toBe(true)
      await rt.resume()
      const pending = () => store.listOutbox({ limit: 100 }).items.filter((r) => r.state === 'pending' && r.adapter !== 'feed')
      for (let i = 0; i < 600 && pending().length > 0; i++) {
        await worker.runOnce()
        await sleep(50)
      }
      const rows = store.listOutbox({ limit: 100 }).items
      store.close()
      expect(rows.filter((r) => r.state !== 'delivered' && r.adapter !== 'feed').map((r) => r.id)).toEqual([])
      for (const id of ids) expect(await adapter.findTickets(id)).toHaveLength(1)
      const webhookJobs = rows.filter((r) => r.adapter === 'webhook')
      expect(webhookJobs.length).toBeGreaterThanOrEqual(2)
      expect([...rx.accepted.keys()].sort()).toEqual(webhookJobs.map((r) => r.id).sort())
      expect(rx.requests.every((r) => r.verified)).toBe(true)
    } finally {
      await rx.stop()
      removeDir(dataDir)
    }
  }, 240_000)
})

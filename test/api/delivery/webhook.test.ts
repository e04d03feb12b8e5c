import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { ErrorCode } from '../../../domain/index.ts'
import { createMemoryOutbox } from '../../../api/delivery/memory-outbox.ts'
import {
  createWebhookAdapter, signWebhook, toCloudEvent, verifyWebhookSignature, webhookConfigFromEnv, type WebhookConfig,
} from '../../../api/delivery/webhook.ts'
import { createDeliveryWorker } from '../../../api/delivery/worker.ts'
import { sampleTicket } from './fixtures.ts'
import { SECRET, startReceiver } from './receiver.ts'

let stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const stop of stops) await stop()
  stops = []
})

describe('webhook signature', () => {
  const body = '{"specversion":"1.0"}'
  const nowMs = 1_760_000_000_000
  const ts = nowMs / 1000
  const headers = { 'webhook-id': 'ob-1', 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook(SECRET, 'ob-1', ts, body) }

  it('matches the Standard Webhooks reference vector', () => {
    // From the Standard Webhooks spec test suite (standard-webhooks/standard-webhooks, libraries).
    const sig = signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
    expect(sig).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  })

  it('verifies a genuine event and rejects tampering, staleness and missing headers', () => {
    expect(verifyWebhookSignature(headers, body, SECRET, 300, nowMs)).toEqual({ ok: true, id: 'ob-1', timestampS: ts })
    expect(verifyWebhookSignature(new Headers(headers), Buffer.from(body), SECRET, 300, nowMs)).toMatchObject({ ok: true })
    expect(verifyWebhookSignature(headers, body + ' ', SECRET, 300, nowMs)).toEqual({ ok: false, reason: 'no matching v1 signature' })
    expect(verifyWebhookSignature({ ...headers, 'webhook-id': 'ob-2' }, body, SECRET, 300, nowMs)).toMatchObject({ ok: false })
    expect(verifyWebhookSignature(headers, body, 'another-secret-of-16+bytes', 300, nowMs)).toMatchObject({ ok: false })
    expect(verifyWebhookSignature(headers, body, SECRET, 300, nowMs + 301_000)).toEqual({ ok: false, reason: 'webhook-timestamp outside the tolerance' })
    expect(verifyWebhookSignature({ 'webhook-id': 'ob-1' }, body, SECRET, 300, nowMs)).toMatchObject({ ok: false })
    // Several signatures while a secret rotates: any one matching is enough.
    const rotated = { ...headers, 'webhook-signature': `v1,AAAA ${headers['webhook-signature']}` }
    expect(verifyWebhookSignature(rotated, body, SECRET, 300, nowMs)).toMatchObject({ ok: true })
  })
})

describe('webhook configuration', () => {
  it('is absent without settings, complete with both, and a CONFIG error when half set', () => {
    expect(webhookConfigFromEnv({})).toBeNull()
    expect(webhookConfigFromEnv({ TICKET_WEBHOOK_URL: 'https://hooks.example/fw', TICKET_WEBHOOK_SECRET: SECRET }))
      .toEqual({ url: 'https://hooks.example/fw', secret: SECRET, timeoutMs: 10_000, source: '/forewarn/tickets' })
    expect(() => webhookConfigFromEnv({ TICKET_WEBHOOK_URL: 'https://hooks.example/fw' })).toThrow(/TICKET_WEBHOOK_SECRET is not/)
    expect(() => webhookConfigFromEnv({ TICKET_WEBHOOK_SECRET: SECRET })).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }))
    expect(() => webhookConfigFromEnv({ TICKET_WEBHOOK_URL: 'ftp://x', TICKET_WEBHOOK_SECRET: SECRET })).toThrow(/http/)
    expect(() => webhookConfigFromEnv({ TICKET_WEBHOOK_URL: 'http://x', TICKET_WEBHOOK_SECRET: 'short' })).toThrow(/16 bytes/)
  })
})

describe('webhook delivery against a real HTTP receiver', () => {
  const config = (url: string): WebhookConfig => ({ url, secret: SECRET, timeoutMs: 300, source: '/forewarn/test' })

  it('survives 500, then a timeout after acceptance, and the event is accepted exactly once', async () => {
    const rx = await startReceiver(['fail500', 'acceptThenHang', 'ok'])
    stops.push(rx.stop)
    const outbox = createMemoryOutbox()
    const ticket = sampleTicket()
    const job = outbox.enqueue(ticket, 'webhook', Date.now())
    const worker = createDeliveryWorker({
      outbox, adapters: [createWebhookAdapter(config(rx.url))], maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 50, pollMs: 10,
    })
    for (let i = 0; i < 100 && outbox.get(job.id)?.state === 'pending'; i++) {
      await worker.runOnce()
      await sleep(10)
    }
    expect(outbox.get(job.id)).toMatchObject({ state: 'delivered', job: { attempts: 2 } })
    expect(rx.requests).toEqual([
      { id: job.id, verified: true, behaviour: 'fail500' },
      { id: job.id, verified: true, behaviour: 'acceptThenHang' },
      { id: job.id, verified: true, behaviour: 'ok' },
    ])
    expect([...rx.accepted.keys()]).toEqual([job.id])
    expect(rx.accepted.get(job.id)).toEqual(JSON.parse(JSON.stringify(toCloudEvent(ticket, { idempotencyKey: job.id, event: 'ticket.created' }, '/forewarn/test'))))
    expect(rx.accepted.get(job.id)).toMatchObject({
      specversion: '1.0', id: job.id, type: 'com.forewarn.ticket.opened', subject: ticket.id, time: ticket.updatedAt, datacontenttype: 'application/json',
    })
  })

  it('classifies answers: 409 delivered, 400 not retriable, unreachable retriable', async () => {
    const rx = await startReceiver(['reject400'])
    stops.push(rx.stop)
    const adapter = createWebhookAdapter(config(rx.url))
    const ctx = { attempt: 1, idempotencyKey: 'ob-x', event: 'ticket.created' as const }
    await expect(adapter.deliver(sampleTicket(), ctx)).rejects.toMatchObject({ code: ErrorCode.DELIVERY, retriable: false })
    await expect(adapter.deliver(sampleTicket(), ctx)).resolves.toEqual({ externalRef: null })
    await expect(adapter.deliver(sampleTicket(), ctx)).resolves.toEqual({ externalRef: null })
    expect(rx.requests.map((r) => r.behaviour)).toEqual(['reject400', 'ok', 'ok'])
    await rx.stop()
    stops = []
    await expect(adapter.deliver(sampleTicket(), ctx)).rejects.toMatchObject({ code: ErrorCode.DELIVERY, retriable: true })
  })
})

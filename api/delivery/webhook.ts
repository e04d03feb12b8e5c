/**
 * Signed webhook: each outbox job is POSTed as one CloudEvents 1.0 event in structured JSON mode,
 * signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The
 * event id is the outbox job id, the same on every retry, so receivers dedupe by it. The receiver
 * recipe is `verifyWebhookSignature` below and docs/tickets.md.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { fetchWithDeadline, statusError } from './http.ts'
import type { DeliveryAdapter, DeliveryContext, OutboxEvent, TicketForDelivery } from './types.ts'

export interface WebhookConfig {
  url: string
  secret: string
  timeoutMs: number
  /** CloudEvents `source`: a URI reference naming this Forewarn installation. */
  source: string
}

export interface CloudEvent {
  specversion: '1.0'
  id: string
  source: string
  type: string
  subject: string
  time: string
  datacontenttype: 'application/json'
  data: TicketForDelivery
}

export const eventTypes: Readonly<Record<OutboxEvent, string>> = {
  'ticket.created': 'com.forewarn.ticket.opened',
  'ticket.updated': 'com.forewarn.ticket.updated',
}

const configError = (msg: string) => new ForewarnError(ErrorCode.CONFIG, msg)

/** Null when no webhook is configured; a CONFIG error when it is configured half or wrong. */
export function webhookConfigFromEnv(env: Readonly<Record<string, string | undefined>>): WebhookConfig | null {
  const url = env.TICKET_WEBHOOK_URL?.trim() ?? ''
  const secret = env.TICKET_WEBHOOK_SECRET ?? ''
  if (url === '' && secret === '') return null
  if (url === '') throw configError('TICKET_WEBHOOK_SECRET is set but TICKET_WEBHOOK_URL is not')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw configError(`TICKET_WEBHOOK_URL is not a URL: ${url}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw configError('TICKET_WEBHOOK_URL must be http(s)')
  if (secret === '') throw configError('TICKET_WEBHOOK_URL is set but TICKET_WEBHOOK_SECRET is not (webhooks are always signed)')
  if (secretKey(secret).length < 16) throw configError('TICKET_WEBHOOK_SECRET must hold at least 16 bytes')
  const timeoutMs = env.TICKET_WEBHOOK_TIMEOUT_MS === undefined ? 10_000 : Number(env.TICKET_WEBHOOK_TIMEOUT_MS)
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100) throw configError('TICKET_WEBHOOK_TIMEOUT_MS must be an integer ≥ 100')
  return { url, secret, timeoutMs, source: env.TICKET_WEBHOOK_SOURCE ?? '/forewarn/tickets' }
}

/** Standard Webhooks secrets are `whsec_` + base64; any other string is used as its UTF-8 bytes. */
export function secretKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8')
}

/** `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)). */
export function signWebhook(secret: string, id: string, timestampS: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampS}.`).update(body).digest('base64')
  return `v1,${mac}`
}

export type HeaderSource = Headers | Readonly<Record<string, string | readonly string[] | undefined>>

function header(h: HeaderSource, name: string): string | undefined {
  if (h instanceof Headers) return h.get(name) ?? undefined
  const v = h[name] ?? h[Object.keys(h).find((k) => k.toLowerCase() === name) ?? '']
  return Array.isArray(v) ? v[0] : (v as string | undefined)
}

export type WebhookVerification = { ok: true; id: string; timestampS: number } | { ok: false; reason: string }

/**
 * The receiver recipe: check the timestamp is within `toleranceS` of now (replay protection), then
 * compare the HMAC of `${webhook-id}.${webhook-timestamp}.${raw body}` in constant time with each
 * `v1,` signature in the header (several are sent while a secret is rotated). `body` must be the
 * raw bytes received, not re-serialised JSON. Then dedupe by `id`.
 */
export function verifyWebhookSignature(
  headers: HeaderSource, body: string | Buffer, secret: string, toleranceS: number, nowMs: number = Date.now(),
): WebhookVerification {
  const id = header(headers, 'webhook-id')
  const ts = header(headers, 'webhook-timestamp')
  const sigs = header(headers, 'webhook-signature')
  if (id === undefined || ts === undefined || sigs === undefined) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' }
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'webhook-timestamp is not whole seconds' }
  const timestampS = Number(ts)
  if (Math.abs(nowMs / 1000 - timestampS) > toleranceS) return { ok: false, reason: 'webhook-timestamp outside the tolerance' }
  const expected = Buffer.from(signWebhook(secret, id, timestampS, body).slice(3), 'base64')
  for (const candidate of sigs.split(' ')) {
    if (!candidate.startsWith('v1,')) continue
    const given = Buffer.from(candidate.slice(3), 'base64')
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true, id, timestampS }
  }
  return { ok: false, reason: 'no matching v1 signature' }
}

export function toCloudEvent(ticket: TicketForDelivery, ctx: Pick<DeliveryContext, 'idempotencyKey' | 'event'>, source: string): CloudEvent {
  return {
    specversion: '1.0',
    id: ctx.idempotencyKey,
    source,
    type: eventTypes[ctx.event],
    subject: ticket.id,
    // The ticket's own change time, so every retry of one event carries the same body.
    time: ticket.updatedAt,
    datacontenttype: 'application/json',
    data: ticket,
  }
}

export function createWebhookAdapter(cfg: WebhookConfig, opts: { now?: () => number } = {}): DeliveryAdapter {
  const now = opts.now ?? Date.now
  return {
    name: 'webhook',
    maxJobMs: cfg.timeoutMs,
    async deliver(ticket, ctx) {
      const body = JSON.stringify(toCloudEvent(ticket, ctx, cfg.source))
      // Signed per attempt: the timestamp is fresh, so a late retry still passes the receiver's tolerance.
      const timestampS = Math.floor(now() / 1000)
      const res = await fetchWithDeadline(`webhook ${cfg.url}`, cfg.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/cloudevents+json; charset=utf-8',
          'user-agent': 'forewarn-webhook/1',
          'webhook-id': ctx.idempotencyKey,
          'webhook-timestamp': String(timestampS),
          'webhook-signature': signWebhook(cfg.secret, ctx.idempotencyKey, timestampS, body),
        },
        body,
      }, cfg.timeoutMs)
      // 409: the receiver already has this event id — the effect happened once, which is the goal.
      if (res.ok || res.status === 409) {
        await res.body?.cancel().catch(() => undefined)
        return { externalRef: null }
      }
      throw await statusError(`webhook ${cfg.url}`, res)
    },
  }
}

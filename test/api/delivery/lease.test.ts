/**
 * The outbox lease covers a target's slowest job twice over, so a job a live deliverer started
 * (only ever in the first half of its lease) ends before another deliverer can claim it again.
 */
import { describe, expect, it } from 'vitest'
import { createRtAdapter } from '../../../api/delivery/rt.ts'
import { createWebhookAdapter } from '../../../api/delivery/webhook.ts'
import { deliveryLeaseMs } from '../../../cli/delivery.ts'

describe('delivery lease', () => {
  const rt = (timeoutMs: number) => createRtAdapter({ url: 'http://127.0.0.1:1', auth: { kind: 'token', token: 't' }, queue: 'General', timeoutMs })
  const webhook = (timeoutMs: number) => createWebhookAdapter({ url: 'http://127.0.0.1:1/hook', secret: 's', timeoutMs, source: '/forewarn/tickets' })

  it('is at least twice the slowest target\'s longest job (RT: search + create), never below the configured lease', () => {
    expect(rt(10_000).maxJobMs).toBe(30_000)
    expect(deliveryLeaseMs(30_000, [rt(10_000)])).toBe(61_000)
    expect(deliveryLeaseMs(30_000, [webhook(10_000)])).toBe(30_000)
    expect(deliveryLeaseMs(30_000, [webhook(5_000), rt(20_000)])).toBe(121_000)
    expect(deliveryLeaseMs(90_000, [rt(10_000)])).toBe(90_000)
    expect(deliveryLeaseMs(30_000, [])).toBe(30_000)
  })

  it('so a job started just before half its lease ends inside it, even at its slowest', () => {
    for (const adapters of [[rt(10_000)], [webhook(15_000)], [rt(3_000), webhook(25_000)]]) {
      const lease = deliveryLeaseMs(30_000, adapters)
      const slowest = Math.max(...adapters.map((a) => a.maxJobMs ?? 0))
      expect(lease / 2 + slowest).toBeLessThan(lease)
    }
  })
})

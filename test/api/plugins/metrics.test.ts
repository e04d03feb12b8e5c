import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { Counter, Registry } from 'prom-client'
import { buildApi } from '../../../api/app.ts'
import { deliveryOutcomeMetrics } from '../../../api/plugins/metrics.ts'
import { openStore, type Store } from '../../../api/store/index.ts'
import { event, fridge } from '../fixtures.ts'

describe('GET /metrics', () => {
  let store: Store
  let app: FastifyInstance
  let registry: Registry
  let reader: string

  beforeEach(async () => {
    store = openStore({ dataDir: null })
    reader = store.createApiKey(['read']).key
    registry = new Registry()
    new Counter({ name: 'forewarn_ingest_test_total', help: 'registered by another part', registers: [registry] }).inc(3)
    app = await buildApi({ store, metrics: registry, rateLimit: { max: 0, windowMs: 1 } })
  })
  afterEach(async () => {
    await app.close()
    store.close()
  })

  it('serves the shared registry in Prometheus text format to a read key, with store counts and request metrics', async () => {
    const { device } = store.createDevice(fridge)
    store.applyDetectorEvent(event(device.id), Date.now())
    await app.inject({ url: `/tickets/${'tk-x'}`, headers: { authorization: `Bearer ${reader}` } })
    const r = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${reader}` } })
    expect(r.statusCode).toBe(200)
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    const lines = r.body.split('\n')
    for (const l of [
      'forewarn_ingest_test_total 3',
      'forewarn_devices 1',
      'forewarn_devices_online 0',
      'forewarn_warnings_active 1',
      'forewarn_tickets 1',
      'forewarn_tickets_open 1',
      'forewarn_api_requests_total{method="GET",route="/tickets/:id",status="404"} 1',
    ]) expect(lines).toContain(l)
    expect(r.body).toMatch(/forewarn_api_request_duration_seconds_count\{route="\/tickets\/:id"\} 1/)
  })

  it('counts delivery outcomes by adapter and result on the same registry', async () => {
    const count = deliveryOutcomeMetrics(registry)
    count({ adapter: 'rt', result: 'retry' })
    count({ adapter: 'rt', result: 'delivered' })
    deliveryOutcomeMetrics(registry)({ adapter: 'rt', result: 'delivered' })
    const body = (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${reader}` } })).body.split('\n')
    expect(body).toContain('forewarn_delivery_attempts_total{adapter="rt",result="delivered"} 2')
    expect(body).toContain('forewarn_delivery_attempts_total{adapter="rt",result="retry"} 1')
  })

  it('needs a key (401) with the read scope', async () => {
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401)
  })

  it('a second API on the same registry reuses the metrics instead of failing to register them', async () => {
    const other = await buildApi({ store, metrics: registry, rateLimit: { max: 0, windowMs: 1 } })
    try {
      expect((await other.inject({ url: '/metrics', headers: { authorization: `Bearer ${reader}` } })).statusCode).toBe(200)
    } finally {
      await other.close()
    }
  })

  it('without a registry it serves a private one', async () => {
    const own = await buildApi({ store, rateLimit: { max: 0, windowMs: 1 } })
    try {
      const r = await own.inject({ url: '/metrics', headers: { authorization: `Bearer ${reader}` } })
      expect(r.body).toContain('forewarn_devices 0')
      expect(r.body).not.toContain('forewarn_ingest_test_total')
    } finally {
      await own.close()
    }
  })
})

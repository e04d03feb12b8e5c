/**
 * Prometheus metrics at GET /metrics (text exposition format): the API's own request counts and
 * latencies plus the store's record counts (read at scrape time), on the registry the composition
 * root passes in — so ingest, sinks and delivery can share one scrape — or on a private one.
 * A scraper authenticates like any client: a bearer key with the read scope.
 */
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client'
import type { Store } from '../store/index.ts'
import type { AnyStore } from '../store/open.ts'
import { bearer, errors } from '../routes/common.ts'

function reuse<T extends Metric>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make()
}

// The store each registry's gauges read: the latest API built on that registry.
const storeOf = new WeakMap<Registry, AnyStore>()

const storeGauges: ReadonlyArray<readonly [name: string, help: string, key: keyof Awaited<ReturnType<Store['counts']>>]> = [
  ['forewarn_devices', 'Provisioned devices.', 'devices'],
  ['forewarn_devices_online', 'Devices whose connection is online.', 'online'],
  ['forewarn_warnings_active', 'Active warnings.', 'activeWarnings'],
  ['forewarn_tickets', 'Tickets ever opened.', 'tickets'],
  ['forewarn_tickets_open', 'Tickets not yet resolved or cancelled.', 'openTickets'],
  ['forewarn_delivery_backlog', 'Ticket deliveries waiting in the outbox.', 'pendingDeliveries'],
  ['forewarn_delivery_dead_letters', 'Ticket deliveries that gave up (GET /deliveries/dead).', 'deadDeliveries'],
]

export const metricsPlugin = fp<{ registry?: Registry | undefined }>(async (app, opts) => {
  const registry = opts.registry ?? new Registry()
  const registers = [registry]
  storeOf.set(registry, app.store)
  for (const [name, help, key] of storeGauges) {
    reuse(registry, name, () => new Gauge({
      name, help, registers,
      async collect() {
        const store = storeOf.get(registry)
        if (store === undefined) return
        try {
          this.set((await store.counts())[key])
        } catch (err) {
          // The records store is down: the count is unknown, so the series is left out of this
          // scrape (no stale value), and the rest of /metrics — the store's retries above all — answers.
          if ((err as { retriable?: unknown } | null)?.retriable !== true) throw err
          this.reset()
        }
      },
    }))
  }
  const requests = reuse(registry, 'forewarn_api_requests_total', () =>
    new Counter({ name: 'forewarn_api_requests_total', help: 'API requests by method, route and status code.', labelNames: ['method', 'route', 'status'], registers }))
  const seconds = reuse(registry, 'forewarn_api_request_duration_seconds', () =>
    new Histogram({ name: 'forewarn_api_request_duration_seconds', help: 'API request latency by route.', labelNames: ['route'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }))

  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, never the raw URL: ids in paths would make a label per ticket.
    const route = req.routeOptions.url ?? 'unmatched'
    requests.inc({ method: req.method, route, status: String(reply.statusCode) })
    seconds.observe({ route }, reply.elapsedTime / 1000)
  })

  app.get('/metrics', {
    config: { scope: 'read' },
    schema: {
      tags: ['probes'], security: bearer, summary: 'Prometheus metrics (text exposition format 0.0.4)',
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors },
    },
  }, async (_req, reply) => {
    const body = await registry.metrics()
    return reply.type(registry.contentType).send(body)
  })
}, { name: 'forewarn-metrics', fastify: '5.x', dependencies: ['forewarn-store', 'forewarn-auth'] })

/**
 * Counts delivery attempts by adapter and result (delivered, retry, dead, deferred) on `registry`:
 * pass the returned function as the delivery worker's `onOutcome` (or call it from there).
 */
export function deliveryOutcomeMetrics(registry: Registry): (outcome: { adapter: string; result: string }) => void {
  const attempts = reuse(registry, 'forewarn_delivery_attempts_total', () =>
    new Counter({ name: 'forewarn_delivery_attempts_total', help: 'Ticket delivery attempts by adapter and result.', labelNames: ['adapter', 'result'], registers: [registry] }))
  return (o) => attempts.inc({ adapter: o.adapter, result: o.result })
}

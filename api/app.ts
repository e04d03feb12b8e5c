/**
 * The HTTP API, grown the fastify way (STYLE.md 5): adapters (store), cross-cutting plugins
 * (errors, auth, docs), then routes — each a named plugin that declares what it depends on.
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AnyStore } from './store/open.ts'
import { storePlugin } from './plugins/store.ts'
import { errorsPlugin, frameworkErrors } from './plugins/errors.ts'
import { authPlugin } from './plugins/auth.ts'
import { docsPlugin } from './plugins/docs.ts'
import { defaultRateLimit, rateLimitPlugin, type RateLimitOptions } from './plugins/rate-limit.ts'
import { healthRoutes, type Readiness } from './routes/health.ts'
import { deviceRoutes } from './routes/devices.ts'
import { gatewayRoutes } from './routes/gateways.ts'
import { recordRoutes } from './routes/records.ts'
import { apiKeyRoutes } from './routes/api-keys.ts'
import { deliveryRoutes } from './routes/deliveries.ts'
import { ingestRoutes, type RejectsSource } from './routes/ingest.ts'
import { metricsPlugin } from './plugins/metrics.ts'
import { catalogueRoutes, type TypeModelSource } from './routes/catalogue.ts'
import type { Registry } from 'prom-client'
import { consoleRoutes, type ConsoleOptions } from './routes/console.ts'
import { statusLinkRoutes } from './routes/status-page.ts'
import { clusterRoutes, type ClusterSource } from './routes/cluster.ts'

export interface ApiDeps {
  /** Either store shape: the embedded (synchronous) one or an asynchronous one such as PostgreSQL. */
  store: AnyStore
  readiness?: Readiness
  logger?: boolean | object
  /** Base URL clients reach the API at; used in ticket links. Learnt from the listener when absent. */
  publicUrl?: string | undefined
  extraRoutes?: FastifyPluginAsync[]
  /** Per-client limits; `{ max: 0 }` turns them off. */
  rateLimit?: RateLimitOptions
  /** Ingest dead letters for GET /ingest/rejects (`ingest.rejects`); the list is empty without one. */
  rejects?: RejectsSource | undefined
  /** Registry GET /metrics serves (shared with ingest, sinks, delivery); a private one when absent. */
  metrics?: Registry | undefined
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  https?: { cert: string | Buffer; key: string | Buffer } | undefined
  /** What each engine-watched type learnt from its fleet, for GET /catalogue/{type}/model. */
  typeModels?: TypeModelSource | undefined
  /** The console at `/` (issue 15): where its charts read recent telemetry. */
  console?: ConsoleOptions | undefined
  /** The cluster this process is part of, for GET /cluster (docs/scaling.md); absent: one process. */
  cluster?: ClusterSource | undefined
}

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } : {}),
    logger: deps.logger ?? false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>()

  if (deps.publicUrl !== undefined) deps.store.setPublicUrl?.(deps.publicUrl)
  else {
    app.addHook('onListen', async () => {
      const a = app.server.address()
      if (a === null || typeof a === 'string') return
      const host = a.address === '0.0.0.0' || a.address === '::' ? 'localhost' : a.family === 'IPv6' ? `[${a.address}]` : a.address
      deps.store.setPublicUrl?.(`${deps.https ? 'https' : 'http'}://${host}:${a.port}`)
    })
  }

  await app.register(storePlugin, { store: deps.store })
  await app.register(errorsPlugin)
  await app.register(rateLimitPlugin, deps.rateLimit ?? defaultRateLimit)
  await app.register(authPlugin)
  await app.register(docsPlugin)
  await app.register(metricsPlugin, { registry: deps.metrics })
  await app.register(healthRoutes, { readiness: deps.readiness })
  await app.register(deviceRoutes)
  await app.register(gatewayRoutes)
  await app.register(recordRoutes)
  await app.register(deliveryRoutes)
  await app.register(apiKeyRoutes)
  await app.register(ingestRoutes, { rejects: deps.rejects })
  await app.register(catalogueRoutes, { models: deps.typeModels })
  await app.register(statusLinkRoutes)
  await app.register(clusterRoutes, { cluster: deps.cluster })
  await app.register(consoleRoutes, deps.console ?? {})
  for (const extra of deps.extraRoutes ?? []) await app.register(extra)
  await app.ready()
  return app as unknown as FastifyInstance
}

/** Adapter plugin: hands the records store to everything registered after it (routes never import it). */
import fp from 'fastify-plugin'
import type { Store } from '../store/index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}

export const storePlugin = fp<{ store: Store }>(async (app, opts) => {
  app.decorate('store', opts.store)
}, { name: 'forewarn-store', fastify: '5.x' })

/** Adapter plugin: hands the records store to everything registered after it (routes never import it). */
import fp from 'fastify-plugin'
import type { AnyStore } from '../store/open.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The embedded store or the PostgreSQL one: routes await every call. */
    store: AnyStore
  }
}

export const storePlugin = fp<{ store: AnyStore }>(async (app, opts) => {
  app.decorate('store', { getter: () => opts.store })
}, { name: 'forewarn-store', fastify: '5.x' })

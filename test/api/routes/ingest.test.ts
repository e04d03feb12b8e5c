import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../../api/app.ts'
import { openStore, type Store } from '../../../api/store/index.ts'
import type { RejectView } from '../../../api/routes/ingest.ts'

const reject = (id: string): RejectView => ({
  id, reason: 'malformed_json', detail: 'Unexpected token', deviceId: 'ref-aaaaaaaaaaaa', topicKind: 'telemetry',
  payloadHead: '{"v":1,', payloadBytes: 7, receivedAt: 1_700_000_000_000,
})

describe('GET /ingest/rejects', () => {
  let store: Store
  let key: string
  const apps: FastifyInstance[] = []
  beforeEach(() => {
    store = openStore({ dataDir: null })
    key = store.createApiKey(['read']).key
  })
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close()
    store.close()
  })

  it('pages through the injected source, passing limit and cursor on', async () => {
    const calls: Array<{ limit: number; after?: string }> = []
    const app = await buildApi({
      store,
      rejects: (opts) => {
        calls.push(opts)
        return opts.after === undefined ? { items: [reject('1'), reject('2')], next: '2' } : { items: [reject('3')], next: null }
      },
    })
    apps.push(app)
    const h = { authorization: `Bearer ${key}` }
    const first = await app.inject({ url: '/ingest/rejects?limit=2', headers: h })
    expect(first.statusCode).toBe(200)
    expect(first.json()).toEqual({ items: [reject('1'), reject('2')], next: '2' })
    expect((await app.inject({ url: '/ingest/rejects?limit=2&after=2', headers: h })).json()).toEqual({ items: [reject('3')], next: null })
    expect(calls).toEqual([{ limit: 2 }, { limit: 2, after: '2' }])
    expect((await app.inject({ url: '/ingest/rejects' })).statusCode).toBe(401)
  })

  it('is empty without a source', async () => {
    const app = await buildApi({ store })
    apps.push(app)
    expect((await app.inject({ url: '/ingest/rejects', headers: { authorization: `Bearer ${key}` } })).json()).toEqual({ items: [], next: null })
  })
})

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../../api/app.ts'
import { openStore, type Store } from '../../../api/store/index.ts'

describe('GET /cluster', () => {
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

  it('one process: not clustered, empty lists', async () => {
    const app = await buildApi({ store })
    apps.push(app)
    const res = await app.inject({ url: '/cluster', headers: { authorization: `Bearer ${key}` } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ clustered: false, self: null, members: [], partitions: [] })
  })

  it('shows the injected members with their roles and owned partitions, owners and lag', async () => {
    const app = await buildApi({
      store,
      cluster: () => ({
        self: 'h-1-a',
        members: [{ id: 'h-1-a', roles: ['edge', 'api'] }, { id: 'h-2-b', roles: ['worker'], partitions: { 1: 0, 0: 7 } }],
        partitions: [{ partition: 0, owner: 'h-2-b', lag: 7 }, { partition: 1, owner: 'h-2-b', lag: 0 }, { partition: 2, owner: null, lag: null }],
      }),
    })
    apps.push(app)
    const res = await app.inject({ url: '/cluster', headers: { authorization: `Bearer ${key}` } })
    expect(res.json()).toEqual({
      clustered: true, self: 'h-1-a',
      members: [{ id: 'h-1-a', roles: ['edge', 'api'], partitions: [] }, { id: 'h-2-b', roles: ['worker'], partitions: [0, 1] }],
      partitions: [{ partition: 0, owner: 'h-2-b', lag: 7 }, { partition: 1, owner: 'h-2-b', lag: 0 }, { partition: 2, owner: null, lag: null }],
    })
    expect((await app.inject({ url: '/cluster' })).statusCode).toBe(401)
  })
})

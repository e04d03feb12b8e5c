import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../api/app.ts'
import { openStore, type Store } from '../../api/store/index.ts'

interface Op { security?: unknown; responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }

describe('OpenAPI document', () => {
  let store: Store
  let app: FastifyInstance
  let doc: { paths: Record<string, Record<string, Op>> }
  const routes: string[] = []

  beforeAll(async () => {
    store = openStore({ dataDir: null })
    app = await buildApi({ store })
    doc = (await app.inject({ url: '/docs/json' })).json()
    // printRoutes draws a tree, four columns per level: rebuild each full path from its ancestors.
    const stack: string[] = []
    for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
      const m = /^([\s│├└─]*)(\S+) \(([A-Z, ]+)\)$/.exec(line)
      if (m === null) continue
      const depth = m[1]!.length / 4
      stack.length = depth
      stack.push(m[2]!)
      for (const method of m[3]!.split(', ')) if (method !== 'HEAD') routes.push(`${method} ${stack.join('')}`)
    }
  })
  afterAll(async () => {
    await app.close()
    store.close()
  })

  it('lists every route the API serves (docs pages aside)', () => {
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`))
    // The console's pages (issue 15) are for people, not API operations.
    const consolePage = /^(GET|POST) \/(\*|sign-in|sign-out|console\/.*|status\/:token)?$/
    const served = routes.filter((r) => !r.includes('/docs') && !consolePage.test(r))
    expect(served.length).toBeGreaterThanOrEqual(22)
    expect(served.filter((r) => !documented.includes(r))).toEqual([])
    for (const r of ['GET /catalogue', 'GET /catalogue/:type', 'GET /catalogue/:type/model', 'GET /deliveries/dead', 'POST /deliveries/:jobId/replay', 'POST /api-keys', 'GET /api-keys', 'DELETE /api-keys/:id',
      'GET /ingest/rejects', 'GET /cluster', 'GET /metrics', 'GET /tickets/precision', 'GET /tickets/:id/timeline',
      'POST /gateways', 'GET /gateways', 'GET /gateways/:id', 'POST /gateways/:id/revoke', 'POST /gateways/:id/credentials']) expect(documented).toContain(r)
  })

  it('every operation has a schema for its success answer, and all but the probes ask for a bearer key', () => {
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        const ok = Object.entries(op.responses).find(([code]) => code.startsWith('2'))
        expect([m, p, ok?.[1].content !== undefined && Object.values(ok[1].content).every((c) => c.schema !== undefined)]).toEqual([m, p, true])
        if (p !== '/healthz' && p !== '/readyz') expect([m, p, op.security]).toEqual([m, p, [{ bearer: [] }]])
      }
    }
  })
})

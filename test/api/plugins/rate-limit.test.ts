import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../../api/app.ts'
import type { Store } from '../../../api/store/index.ts'
import { closeApi, openApi } from '../fixtures.ts'

describe('rate limits', () => {
  let store: Store
  let app: FastifyInstance
  let admin: string
  let limited: FastifyInstance
  beforeEach(async () => {
    ;({ store, app, admin } = await openApi({}, { rateLimit: { max: 0, windowMs: 1 } }))
    limited = await buildApi({ store, rateLimit: { max: 3, windowMs: 60_000 } })
  })
  afterEach(async () => {
    await limited.close()
    await closeApi({ store, app, admin })
  })

  const get = (url: string, authorization?: string, remoteAddress = '203.0.113.7') =>
    limited.inject({ url, remoteAddress, headers: authorization === undefined ? {} : { authorization } }).then((r) => r.statusCode)

  it('keys the limit on the authenticated key id: other spacing or case of the header is the same client', async () => {
    const codes = [
      await get('/warnings', `Bearer ${admin}`),
      await get('/warnings', `bearer   ${admin}`),
      await get('/warnings', `BEARER ${admin}  `, '198.51.100.1'),
      await get('/warnings', `Bearer ${admin}`, '198.51.100.2'),
    ]
    expect(codes).toEqual([200, 200, 200, 429])
    // Another key has its own budget.
    expect(await get('/warnings', `Bearer ${store.createApiKey(['read']).key}`)).toBe(200)
  })

  it('counts failed authentications against their address: the 4th attempt from it gets 429', async () => {
    expect(await get('/warnings', 'Bearer fwk_guess1')).toBe(401)
    expect(await get('/warnings', 'Bearer fwk_guess2')).toBe(401)
    expect(await get('/warnings')).toBe(401)
    const r = await limited.inject({ url: '/warnings', remoteAddress: '203.0.113.7', headers: { authorization: `Bearer ${admin}x` } })
    expect(r.statusCode).toBe(429)
    expect((r.json() as { error: { code: string } }).error.code).toBe('FOREWARN_ERR_RATE_LIMITED')
    // The address is limited, a valid key from it is not, and another address is not.
    expect(await get('/warnings', `Bearer ${admin}`)).toBe(200)
    expect(await get('/warnings', 'Bearer fwk_guess3', '203.0.113.8')).toBe(401)
  })

  it('an Authorization header does not take an unauthenticated request out of its address budget', async () => {
    const codes: number[] = []
    for (let i = 0; i < 4; i++) codes.push(await get('/docs/json', `Bearer junk-${i}`))
    expect(codes).toEqual([200, 200, 200, 429])
  })
})

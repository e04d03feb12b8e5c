import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import Fastify from 'fastify'
import { ErrorCode, ForewarnError } from '../../../domain/index.ts'
import { errorsPlugin } from '../../../api/plugins/errors.ts'
import { closeApi, openApi, type ApiUnderTest } from '../fixtures.ts'

describe('error format before routing', () => {
  let t: ApiUnderTest
  beforeEach(async () => {
    t = await openApi({}, { rateLimit: { max: 0, windowMs: 1 } })
  })
  afterEach(() => closeApi(t))

  it('an id over 100 characters gets the house error format (400), as one of 65–100 does, not fastify’s 414', async () => {
    const headers = { authorization: `Bearer ${t.admin}` }
    for (const url of [`/devices/${'a'.repeat(101)}`, `/tickets/${'x'.repeat(5000)}/timeline`, `/devices/${'a'.repeat(80)}`]) {
      const r = await t.app.inject({ url, headers })
      expect(r.statusCode, url.slice(0, 20)).toBe(400)
      expect(r.json()).toEqual({ error: { code: 'FOREWARN_ERR_BAD_PAYLOAD', message: expect.any(String) } })
    }
    expect((await t.app.inject({ url: `/devices/${'a'.repeat(101)}`, headers })).json()).toEqual({
      error: { code: 'FOREWARN_ERR_BAD_PAYLOAD', message: 'a path parameter is longer than 100 characters' },
    })
  })

  it('a path that is not valid percent-encoding gets the house error format', async () => {
    const r = await t.app.inject({ url: '/devices/%E0%A4%A', headers: { authorization: `Bearer ${t.admin}` } })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toEqual({ error: { code: 'FOREWARN_ERR_BAD_PAYLOAD', message: 'the path is not valid percent-encoding' } })
  })
})

describe('error status by code', () => {
  it('a broker that did not take a change answers 503 (retry), a store outage 503, a delivery failure 502', async () => {
    const app = Fastify()
    await app.register(errorsPlugin)
    app.get('/fail/:code', (req) => {
      throw new ForewarnError((req.params as { code: ErrorCode }).code, 'it failed', { retriable: true })
    })
    try {
      for (const [code, status] of [[ErrorCode.BROKER, 503], [ErrorCode.STORE, 503], [ErrorCode.DELIVERY, 502], [ErrorCode.CONFLICT, 409]] as const) {
        const r = await app.inject({ url: `/fail/${code}` })
        expect([r.statusCode, r.json()]).toEqual([status, { error: { code, message: 'it failed' } }])
      }
    } finally {
      await app.close()
    }
  })
})

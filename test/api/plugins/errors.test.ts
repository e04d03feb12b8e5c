import { afterEach, beforeEach, describe, expect, it } from 'vitest'
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

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { auth, closeApi, event, fridge, openApi, type ApiUnderTest } from '../fixtures.ts'
import { createStoredTelemetry } from '../../../api/console/telemetry.ts'

const shape = { bucketMs: 3_600_000, buckets: 24 }
const form = { 'content-type': 'application/x-www-form-urlencoded' }

describe('console sign-in and pages', () => {
  let t: ApiUnderTest
  beforeEach(async () => {
    t = await openApi({}, { console: { telemetry: createStoredTelemetry({ recentWindow: (id, shape) => t.store.recentWindow(id, shape) }, shape) } })
  })
  afterEach(async () => closeApi(t))

  const signIn = async (key: string) => {
    const res = await t.app.inject({ method: 'POST', url: '/sign-in', headers: form, payload: `key=${encodeURIComponent(key)}` })
    const cookie = res.cookies.find((c) => c.name === 'forewarn_session')
    return { res, cookie: cookie === undefined ? null : `${cookie.name}=${cookie.value}`, raw: cookie }
  }

  it('shows the sign-in form to strangers and refuses an unknown key without a session', async () => {
    const page = await t.app.inject({ url: '/' })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('<form method="post" action="/sign-in"')
    expect(page.headers['content-security-policy']).toContain("script-src 'self'")
    const bad = await signIn('nope')
    expect([bad.res.statusCode, bad.cookie]).toEqual([401, null])
    expect(bad.res.body).toContain('not known')
    expect((await t.app.inject({ url: '/console/fleet' })).statusCode).toBe(401)
  })

  it('a read key signs in; the cookie is HttpOnly and SameSite=Strict and holds no key; sign-out ends the session', async () => {
    const { key } = t.store.createApiKey(['read'], 'viewer')
    const ok = await signIn(key)
    expect([ok.res.statusCode, ok.res.headers.location]).toEqual([303, '/'])
    expect([ok.raw?.httpOnly, ok.raw?.sameSite, ok.raw?.path]).toEqual([true, 'Strict', '/'])
    expect(ok.cookie).not.toContain(key)
    const fleet = await t.app.inject({ url: '/', headers: { cookie: ok.cookie! } })
    expect(fleet.body).toContain('<h1>Fleet</h1>')
    expect(fleet.body).not.toContain(key)
    const out = await t.app.inject({ method: 'POST', url: '/sign-out', headers: { cookie: ok.cookie! } })
    expect(out.statusCode).toBe(303)
    expect((await t.app.inject({ url: '/console/fleet', headers: { cookie: ok.cookie! } })).statusCode).toBe(401)
  })

  it('a key without the read scope cannot sign in; revoking a key ends its sessions at once', async () => {
    const writer = t.store.createApiKey(['tickets:write'], 'writer')
    const refused = await signIn(writer.key)
    expect([refused.res.statusCode, refused.cookie]).toEqual([401, null])
    const reader = t.store.createApiKey(['read'], 'reader')
    const { cookie } = await signIn(reader.key)
    expect((await t.app.inject({ url: '/console/fleet', headers: { cookie: cookie! } })).statusCode).toBe(200)
    expect((await t.app.inject({ method: 'DELETE', url: `/api-keys/${reader.id}`, headers: auth(t.admin) })).statusCode).toBe(200)
    const after = await t.app.inject({ url: '/console/fleet', headers: { cookie: cookie!, accept: 'text/html' } })
    expect([after.statusCode, after.headers.location]).toEqual([303, '/'])
  })

  it('appliance and ticket pages show plain words; the fleet orders warnings by remaining life', async () => {
    const a = t.store.createDevice(fridge).device
    const b = t.store.createDevice({ ...fridge, serial: 'SN-0002' }).device
    t.store.applyDetectorEvent(event(a.id), Date.now())
    const soon = t.store.applyDetectorEvent(event(b.id, { faultCode: 'REF-CFAN', component: 'condenser_fan', rul: { medianHours: 70, lowHours: 60, highHours: 80 } }), Date.now())
    const { cookie } = await signIn(t.admin)
    const fleet = await t.app.inject({ url: '/', headers: { cookie: cookie! } })
    const warnings = fleet.body.slice(fleet.body.indexOf('table class="warnings'))
    expect(warnings.indexOf('Condenser fan failure')).toBeLessThan(warnings.indexOf('Compressor wear'))
    expect(warnings).toContain('failure expected in about 3 days')
    expect(warnings).toContain('failure expected in 9 to 14 days')
    const ticket = await t.app.inject({ url: `/console/tickets/${soon.ticket!.id}`, headers: { cookie: cookie! } })
    expect(ticket.statusCode).toBe(200)
    expect(ticket.body).toContain('Current while running rose from 1.2 A to 1.9 A')
    expect(ticket.body).toContain('Who pays')
    const dev = await t.app.inject({ url: `/console/appliances/${a.id}`, headers: { cookie: cookie! } })
    expect(dev.body).toContain('data-chain="ok"')
    expect(dev.body).toContain('fresh-food cabinet temperature (°C)')
    expect((await t.app.inject({ url: '/console/appliances/ref-nope', headers: { cookie: cookie! } })).statusCode).toBe(404)
  })

  it("charts read the device's stored recent window, in catalogue order with units, null where a bucket has no reading", async () => {
    const { device } = t.store.createDevice(fridge)
    const { cookie } = await signIn(t.admin)
    const url = `/console/appliances/${device.id}/telemetry`
    expect((await t.app.inject({ url, headers: { cookie: cookie! } })).json().series).toBeNull()
    const t0 = 480_000 * shape.bucketMs
    t.store.addToWindow([
      { deviceId: device.id, startMs: t0, means: { cabinet_temp_c: [4.5, 10], door_open: [0.1, 10] } },
      { deviceId: device.id, startMs: t0 + shape.bucketMs, means: { cabinet_temp_c: [5, 3] } },
    ], shape)
    const body = (await t.app.inject({ url, headers: { cookie: cookie! } })).json()
    const cab = body.series.metrics.indexOf('cabinet_temp_c')
    const door = body.series.metrics.indexOf('door_open')
    expect(body.series.times).toEqual([t0, t0 + shape.bucketMs])
    expect(body.series.values[cab]).toEqual([4.5, 5])
    expect(body.series.values[door]).toEqual([0.1, null])
    expect([body.series.source, body.series.bucketMs]).toEqual(['store', shape.bucketMs])
  })
})

describe('the live channel', () => {
  it('sends `event: fleet` when the fleet changes, and never holds up shutting down', async () => {
    const t = await openApi({}, { console: { liveIntervalMs: 100 } })
    try {
      const url = await t.app.listen({ port: 0, host: '127.0.0.1' })
      const signed = await fetch(`${url}/sign-in`, { method: 'POST', body: `key=${t.admin}`, headers: form, redirect: 'manual' })
      const cookie = (signed.headers.get('set-cookie') ?? '').split(';')[0]!
      const res = await fetch(`${url}/console/events`, { headers: { cookie } })
      expect([res.status, res.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8'])
      const reader = res.body!.getReader()
      let text = ''
      const read = async (until: RegExp) => {
        while (!until.test(text)) text += new TextDecoder().decode((await reader.read()).value)
      }
      await read(/retry: 3000/)
      await new Promise((r) => setTimeout(r, 300))
      t.store.createDevice(fridge)
      await read(/event: fleet\ndata: \d+/)
      const t0 = Date.now()
      await t.app.close()
      expect(Date.now() - t0).toBeLessThan(2000)
    } finally {
      await t.app.close()
      t.store.close()
    }
  })
})

describe("the owner's status page", () => {
  let t: ApiUnderTest
  beforeEach(async () => {
    t = await openApi({}, { publicUrl: 'http://forewarn.test' })
  })
  afterEach(async () => closeApi(t))

  it('opens with the token from the ticket, shows nothing internal, and is not found once revoked', async () => {
    const d = t.store.createDevice(fridge).device
    const ticket = t.store.applyDetectorEvent(event(d.id), Date.now()).ticket!
    const link = ticket.links.status!
    expect(link).toMatch(/^http:\/\/forewarn\.test\/status\/[A-Za-z0-9_-]{40,}$/)
    const path = new URL(link).pathname
    const page = await t.app.inject({ url: path })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('Found early')
    expect(page.body).toContain('Compressor wear')
    for (const internal of [ticket.id, d.id, fridge.serial, 'REF-CMPW', '1.9', 'cust-42', t.admin]) expect([internal, page.body.includes(internal)]).toEqual([internal, false])
    expect(page.headers['set-cookie']).toBeUndefined()

    const forged = path.slice(0, -4) + (path.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    expect((await t.app.inject({ url: forged })).statusCode).toBe(404)
    expect((await t.app.inject({ method: 'POST', url: `/tickets/${ticket.id}/status-link/revoke`, headers: auth(t.store.createApiKey(['read']).key), payload: {} })).statusCode).toBe(403)
    expect((await t.app.inject({ method: 'POST', url: `/tickets/${ticket.id}/status-link/revoke`, headers: auth(t.admin), payload: {} })).json()).toEqual({ revoked: true })
    const gone = await t.app.inject({ url: path })
    expect(gone.statusCode).toBe(404)
    expect(gone.body).toContain('not valid')
    expect((await t.app.inject({ method: 'POST', url: '/tickets/tk-nope/status-link/revoke', headers: auth(t.admin), payload: {} })).statusCode).toBe(404)
  })
})

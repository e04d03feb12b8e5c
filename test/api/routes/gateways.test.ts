import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import type { Store } from '../../../api/store/index.ts'
import { fridge, auth, closeApi, openApi } from '../fixtures.ts'

describe('gateway routes', () => {
  let store: Store
  let app: FastifyInstance
  let admin: string
  beforeEach(async () => {
    ;({ store, app, admin } = await openApi({}, { rateLimit: { max: 0, windowMs: 1 } }))
  })
  afterEach(() => closeApi({ store, app, admin }))

  it('provisions a gateway with its password once; lists and shows it with the devices behind it', async () => {
    const r = await app.inject({ method: 'POST', url: '/gateways', headers: auth(admin), payload: { label: 'hub in flat 3', region: 'north' } })
    expect(r.statusCode).toBe(201)
    const { gateway, credentials } = r.json() as { gateway: { id: string }; credentials: { username: string; password: string } }
    expect(gateway).toMatchObject({ label: 'hub in flat 3', region: 'north', ownerRef: null, revoked: false })
    expect(credentials.username).toBe(gateway.id)
    expect(store.verifyGatewayCredentials(gateway.id, Buffer.from(credentials.password))?.gateway.id).toBe(gateway.id)

    const d = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: { ...fridge, gatewayId: gateway.id } })
    expect(d.statusCode).toBe(201)
    const deviceId = (d.json() as { device: { id: string; gatewayId: string } }).device.id
    expect((d.json() as { device: { gatewayId: string } }).device.gatewayId).toBe(gateway.id)

    const one = await app.inject({ url: `/gateways/${gateway.id}`, headers: auth(admin) })
    expect(one.statusCode).toBe(200)
    expect(one.json()).toEqual({ ...gateway, deviceIds: [deviceId] })
    expect(one.body).not.toContain(credentials.password)
    const list = await app.inject({ url: '/gateways?limit=10', headers: auth(admin) })
    expect(list.json()).toEqual({ items: [gateway], next: null })
    expect(list.body).not.toContain(credentials.password)
    expect((await app.inject({ url: '/gateways/gw-nobody', headers: auth(admin) })).statusCode).toBe(404)
  })

  it('refuses a device behind an unknown (400) or revoked (409) gateway; revoke and rotate', async () => {
    const unknown = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: { ...fridge, gatewayId: 'gw-nobody' } })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json()).toMatchObject({ error: { code: 'FOREWARN_ERR_BAD_PAYLOAD', message: expect.stringContaining('no gateway gw-nobody') } })

    const { gateway, credentials } = store.createGateway({ label: 'hub' })
    const rot = await app.inject({ method: 'POST', url: `/gateways/${gateway.id}/credentials`, headers: auth(admin) })
    expect(rot.statusCode).toBe(200)
    const fresh = rot.json() as { username: string; password: string }
    expect(fresh.username).toBe(gateway.id)
    expect(store.verifyGatewayCredentials(gateway.id, Buffer.from(credentials.password))).toBeNull()
    expect(store.verifyGatewayCredentials(gateway.id, Buffer.from(fresh.password))).not.toBeNull()

    const rev = await app.inject({ method: 'POST', url: `/gateways/${gateway.id}/revoke`, headers: auth(admin) })
    expect(rev.statusCode).toBe(200)
    expect(rev.json()).toEqual({ ...gateway, revoked: true })
    expect(store.verifyGatewayCredentials(gateway.id, Buffer.from(fresh.password))).toBeNull()
    const revoked = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: { ...fridge, gatewayId: gateway.id } })
    expect(revoked.statusCode).toBe(409)
    expect(revoked.json()).toMatchObject({ error: { code: 'FOREWARN_ERR_CONFLICT' } })
    expect((await app.inject({ method: 'POST', url: `/gateways/${gateway.id}/credentials`, headers: auth(admin) })).statusCode).toBe(409)
    expect((await app.inject({ method: 'POST', url: '/gateways/gw-nobody/revoke', headers: auth(admin) })).statusCode).toBe(404)
  })

  it('needs the devices:admin scope; validates the body', async () => {
    const { key: reader } = store.createApiKey(['read'])
    const { key: deviceAdmin } = store.createApiKey(['devices:admin'])
    expect((await app.inject({ method: 'POST', url: '/gateways', headers: auth(reader), payload: { label: 'x' } })).statusCode).toBe(403)
    expect((await app.inject({ url: '/gateways', headers: auth(reader) })).statusCode).toBe(403)
    expect((await app.inject({ url: '/gateways' })).statusCode).toBe(401)
    expect((await app.inject({ method: 'POST', url: '/gateways', headers: auth(deviceAdmin), payload: { label: 'x' } })).statusCode).toBe(201)
    expect((await app.inject({ method: 'POST', url: '/gateways', headers: auth(deviceAdmin), payload: {} })).statusCode).toBe(400)
    expect((await app.inject({ method: 'POST', url: '/gateways', headers: auth(deviceAdmin), payload: { label: 'x', secret: 'y' } })).statusCode).toBe(400)
  })
})

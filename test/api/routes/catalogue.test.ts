import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import type { Store } from '../../../api/store/index.ts'
import { installCatalogue, shippedSpecs } from '../../../domain/index.ts'
import { pumpSpec } from '../../fixtures/skab.ts'
import { auth, closeApi, openApi } from '../fixtures.ts'

describe('catalogue routes', () => {
  let store: Store
  let app: FastifyInstance
  let admin: string
  beforeEach(async () => {
    installCatalogue([pumpSpec()])
    ;({ store, app, admin } = await openApi({}, { rateLimit: { max: 0, windowMs: 1 } }))
  })
  afterEach(async () => {
    await closeApi({ store, app, admin })
    installCatalogue()
  })

  it('serves every loaded type in the catalogue file format, to a read key only', async () => {
    const r = await app.inject({ url: '/catalogue', headers: auth(admin) })
    expect(r.statusCode).toBe(200)
    const items = (r.json() as { items: { type: string }[] }).items
    expect(items).toEqual([...shippedSpecs, pumpSpec()])
    expect((await app.inject({ url: '/catalogue' })).statusCode).toBe(401)
    const { key } = store.createApiKey(['read'], 'grafana')
    expect((await app.inject({ url: '/catalogue/circulation_pump', headers: auth(key) })).json()).toEqual(pumpSpec())
  })

  it('answers 404 for a type not loaded, and no fleet model for a type that learnt none', async () => {
    const missing = await app.inject({ url: '/catalogue/steam_turbine', headers: auth(admin) })
    expect([missing.statusCode, (missing.json() as { error: { code: string } }).error.code]).toEqual([404, 'FOREWARN_ERR_NOT_FOUND'])
    expect((await app.inject({ url: '/catalogue/steam_turbine/model', headers: auth(admin) })).statusCode).toBe(404)
    const model = await app.inject({ url: '/catalogue/circulation_pump/model', headers: auth(admin) })
    expect(model.json()).toEqual({ type: 'circulation_pump', watchedBy: 'engine', reference: null, failure: null })
  })

  it('provisions devices of a data-defined type and refuses types not loaded', async () => {
    const body = { model: 'SKAB rig', serial: 'R-1', region: 'lab', installDate: '2025-01-15', warranty: { standardEnd: '2030-01-15', extended: [] } }
    const ok = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: { ...body, type: 'circulation_pump' } })
    expect(ok.statusCode).toBe(201)
    expect((ok.json() as { device: { id: string; type: string } }).device).toMatchObject({ type: 'circulation_pump', id: expect.stringMatching(/^circul-[a-z2-7]{12}$/) })
    const no = await app.inject({ method: 'POST', url: '/devices', headers: auth(admin), payload: { ...body, type: 'steam_turbine' } })
    expect([no.statusCode, (no.json() as { error: { message: string } }).error.message]).toEqual([400, 'unknown appliance type steam_turbine'])
  })
})

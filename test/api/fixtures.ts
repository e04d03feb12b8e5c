/** Shared test data for the api tests. */
import type { DetectorEvent, Severity } from '../../domain/index.ts'
import type { FastifyInstance } from 'fastify'
import { buildApi, type ApiDeps } from '../../api/app.ts'
import { openStore, type NewDevice, type Store, type StoreOptions } from '../../api/store/index.ts'

export const fridge: NewDevice = {
  type: 'refrigerator',
  model: 'FR-450X',
  serial: 'SN-0001',
  region: 'eu-west',
  installDate: '2024-01-10',
  warranty: { standardEnd: '2026-01-10', extended: [{ component: 'compressor', end: '2030-01-10' }] },
  ownerRef: 'cust-42',
}

export function event(deviceId: string, over: Partial<DetectorEvent> = {}): DetectorEvent {
  const faultCode = over.faultCode ?? 'REF-CMPW'
  return {
    kind: 'warning.raised',
    deviceId,
    episodeId: `${deviceId}:${faultCode}:1`,
    faultCode,
    component: 'compressor',
    severity: 'warning' as Severity,
    eventTime: 1_700_000_000_000,
    message: 'compressor current rising',
    evidence: [{ feature: 'running_current_a', value: 1.9, baseline: 1.2, deviation: 6.1, slopePerDay: 0.02, detail: 'up 58 %' }],
    rul: { medianHours: 260, lowHours: 216, highHours: 336 },
    source: 'detector',
    ...over,
  }
}

/** A store in memory with its admin key and the API over it, as the route tests use them. */
export interface ApiUnderTest {
  store: Store
  app: FastifyInstance
  admin: string
}

export async function openApi(storeOpts: Omit<StoreOptions, 'dataDir'> = {}, apiOpts: Omit<ApiDeps, 'store'> = {}): Promise<ApiUnderTest> {
  const store = openStore({ dataDir: null, ...storeOpts })
  const admin = store.ensureAdminKey().key as string
  const app = await buildApi({ store, ...apiOpts })
  return { store, app, admin }
}

export async function closeApi(t: ApiUnderTest): Promise<void> {
  await t.app.close()
  t.store.close()
}

export const auth = (key: string): { authorization: string } => ({ authorization: `Bearer ${key}` })

import { describe, expect, it } from 'vitest'
import { authenticatePrincipal, gatewayChanged } from '../../cli/gateways.ts'
import type { GatewayIdentity } from '../../api/store/types.ts'

const gateway = { id: 'gw-aaaaaaaaaaaa', label: 'hub', region: null, ownerRef: null, createdAt: '2025-01-01T00:00:00.000Z', revoked: false }

/** A store whose gateway look-up waits for `release`, so a change can land mid-authentication. */
function slowStore(answers: Array<GatewayIdentity | null>) {
  let calls = 0
  let release: () => void = () => {}
  return {
    calls: () => calls,
    release: () => release(),
    store: {
      verifyDeviceCredentials: async () => null,
      getDevice: async (id: string) => ({ id, type: 'refrigerator' as const, model: 'm', region: 'r', revoked: false }) as never,
      verifyGatewayCredentials: async () => {
        const answer = answers[Math.min(calls++, answers.length - 1)] ?? null
        if (calls === 1) await new Promise<void>((r) => (release = r))
        return answer
      },
    },
  }
}

describe('gateway authentication', () => {
  it('reads the device set again when it changed during the authentication', async () => {
    const s = slowStore([{ gateway, deviceIds: ['ref-a'] }, { gateway, deviceIds: ['ref-a', 'ref-b'] }])
    const remembered: string[] = []
    const auth = authenticatePrincipal(s.store, { remember: (d) => remembered.push(d.id) })
    const pending = auth(gateway.id, Buffer.from('pw'))
    await new Promise((r) => setImmediate(r))
    const closed: string[] = []
    gatewayChanged(s.store, { disconnectClient: (id) => closed.push(id) }, gateway.id)
    expect(closed).toEqual([]) // after the authentications in flight, never before
    s.release()
    expect(await pending).toEqual({ kind: 'gateway', gatewayId: gateway.id, deviceIds: new Set(['ref-a', 'ref-b']) })
    expect(s.calls()).toBe(2)
    expect(remembered).toEqual(['ref-a', 'ref-a', 'ref-b'])
    await new Promise((r) => setImmediate(r))
    expect(closed).toEqual([gateway.id])
  })

  it('a gateway revoked during its authentication is refused', async () => {
    const s = slowStore([{ gateway, deviceIds: [] }, null])
    const auth = authenticatePrincipal(s.store, { remember: () => {} })
    const pending = auth(gateway.id, Buffer.from('pw'))
    await new Promise((r) => setImmediate(r))
    gatewayChanged(s.store, { disconnectClient: () => {} }, gateway.id)
    s.release()
    expect(await pending).toBeNull()
  })

  it('other usernames authenticate as devices', async () => {
    const store = {
      verifyDeviceCredentials: async (u: string) => (u === 'ref-x' ? ({ id: 'ref-x', type: 'refrigerator', model: 'm', region: 'r', revoked: false } as never) : null),
      verifyGatewayCredentials: async () => { throw new Error('not a gateway') },
      getDevice: async () => null,
    }
    const auth = authenticatePrincipal(store, { remember: () => {} })
    expect(await auth('ref-x', Buffer.from('pw'))).toEqual({ kind: 'device', deviceId: 'ref-x' })
    expect(await auth('ref-y', Buffer.from('pw'))).toBeNull()
  })
})

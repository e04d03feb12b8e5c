/**
 * Gateways on the embedded broker (issue 4): how a gateway authenticates, and how changes to it or
 * to the devices behind it reach its connection. A gateway's device set is read when it connects;
 * any change to that set (a device provisioned or revoked behind it) or to the gateway itself
 * (revoked, re-keyed) closes its connection, and it reconnects with the new set or not at all.
 */
import type { Principal } from '../broker/acl.ts'
import type { EmbeddedBroker } from '../broker/index.ts'
import type { AsyncRecordsStore } from '../api/store/open.ts'
import type { Pipeline } from './pipeline.ts'

export const GATEWAY_PREFIX = 'gw-'

/** Bounded: each retry means the gateway changed during its own authentication. */
const AUTH_ATTEMPTS = 3

/**
 * A change counter per gateway, per store (the API's proxy and the broker's authenticate share the
 * store, not each other). An authentication that read the store before a change committed sees
 * the counter move and reads again; one that read after is registered with the broker before the
 * change's disconnect runs (see gatewayChanged). Either way no connection keeps a stale set.
 */
const epochsByStore = new WeakMap<object, Map<string, number>>()

function epochs(store: object): Map<string, number> {
  let m = epochsByStore.get(store)
  if (m === undefined) epochsByStore.set(store, (m = new Map()))
  return m
}

/**
 * After a committed change to a gateway or its device set: closes its connection. The close waits
 * for the microtasks in flight, so an authentication that already passed the epoch check has
 * registered its connection with the broker by then.
 */
export function gatewayChanged(store: object, broker: Pick<EmbeddedBroker, 'disconnectClient'>, gatewayId: string): void {
  const m = epochs(store)
  m.set(gatewayId, (m.get(gatewayId) ?? 0) + 1)
  setImmediate(() => broker.disconnectClient(gatewayId))
}

type AuthStore = Pick<AsyncRecordsStore, 'verifyDeviceCredentials' | 'verifyGatewayCredentials' | 'getDevice'>

/** The broker's `authenticate`: a gateway by its `gw-` username, any other username as a device. */
export function authenticatePrincipal(store: AuthStore, pipeline: Pick<Pipeline, 'remember'>): (username: string, password: Buffer) => Promise<Principal | null> {
  const changes = epochs(store)
  return async (username, password) => {
    if (!username.startsWith(GATEWAY_PREFIX)) {
      const d = await store.verifyDeviceCredentials(username, password)
      if (!d) return null
      pipeline.remember(d)
      return { kind: 'device', deviceId: d.id }
    }
    for (let attempt = 1; ; attempt++) {
      const epoch = changes.get(username) ?? 0
      const g = await store.verifyGatewayCredentials(username, password)
      if (!g) return null
      // Ingest accepts readings only of devices the pipeline knows; these may be new to it.
      for (const id of g.deviceIds) {
        const d = await store.getDevice(id)
        if (d) pipeline.remember(d)
      }
      if ((changes.get(username) ?? 0) === epoch || attempt === AUTH_ATTEMPTS) {
        return { kind: 'gateway', gatewayId: g.gateway.id, deviceIds: new Set(g.deviceIds) }
      }
    }
  }
}

/**
 * The store calls that change what a gateway may do, wrapped to close its connection after the
 * change is committed; undefined for every other member.
 */
export function gatewayConnectionControl(
  target: AsyncRecordsStore, broker: Pick<EmbeddedBroker, 'disconnectClient'>, pipeline: Pick<Pipeline, 'remember'>, prop: string | symbol,
): ((...args: never[]) => Promise<unknown>) | undefined {
  if (prop === 'createDevice') {
    return async (input: Parameters<AsyncRecordsStore['createDevice']>[0]) => {
      const created = await target.createDevice(input)
      if (created.device.gatewayId !== null) {
        pipeline.remember(created.device)
        gatewayChanged(target, broker, created.device.gatewayId)
      }
      return created
    }
  }
  if (prop === 'revokeGateway') {
    return async (id: string) => {
      const gateway = await target.revokeGateway(id)
      gatewayChanged(target, broker, id)
      return gateway
    }
  }
  if (prop === 'rotateGatewayCredentials') {
    return async (id: string) => {
      const credentials = await target.rotateGatewayCredentials(id)
      gatewayChanged(target, broker, id)
      return credentials
    }
  }
  return undefined
}

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

/** The broker's `authenticate`: a gateway by its `gw-` username, any other username as a device. */
export function authenticatePrincipal(
  store: Pick<AsyncRecordsStore, 'verifyDeviceCredentials' | 'verifyGatewayCredentials' | 'getDevice'>,
  pipeline: Pick<Pipeline, 'remember'>,
): (username: string, password: Buffer) => Promise<Principal | null> {
  return async (username, password) => {
    if (!username.startsWith(GATEWAY_PREFIX)) {
      const d = await store.verifyDeviceCredentials(username, password)
      if (!d) return null
      pipeline.remember(d)
      return { kind: 'device', deviceId: d.id }
    }
    const g = await store.verifyGatewayCredentials(username, password)
    if (!g) return null
    // Ingest accepts readings only of devices the pipeline knows; these may be new to it.
    for (const id of g.deviceIds) {
      const d = await store.getDevice(id)
      if (d) pipeline.remember(d)
    }
    return { kind: 'gateway', gatewayId: g.gateway.id, deviceIds: new Set(g.deviceIds) }
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
        broker.disconnectClient(created.device.gatewayId)
      }
      return created
    }
  }
  if (prop === 'revokeGateway') {
    return async (id: string) => {
      const gateway = await target.revokeGateway(id)
      broker.disconnectClient(id)
      return gateway
    }
  }
  if (prop === 'rotateGatewayCredentials') {
    return async (id: string) => {
      const credentials = await target.rotateGatewayCredentials(id)
      broker.disconnectClient(id)
      return credentials
    }
  }
  return undefined
}

/**
 * Device provisioning for an external Mosquitto (2.0+) through its dynamic-security plugin: the
 * control API is plain MQTT (`$CONTROL/dynamic-security/v1`, JSON commands, responses on
 * `…/response`), so credentials and ACLs change while the broker runs, with no file to reload.
 *
 * The model, mirroring broker/acl.ts for the embedded broker:
 * - a device is a dynsec client with username = client id = its device id (the client id is
 *   pinned, so a device cannot take over another's session), and a role of its own
 *   (`forewarn-device-{id}`) allowing publish on its telemetry/status/events and subscribe on its
 *   commands only. A gateway's role also gets those ACLs for each device registered behind it.
 * - the pipeline's service account has the role `forewarn-pipeline`: subscribe under
 *   `appliances/` and `forewarn/`, publish under `forewarn/` and on devices' commands.
 * - default ACL access: publish and subscribe denied unless a role allows (checked at start-up).
 *
 * Why one role per device and not one shared role with `%u`: Mosquitto 2.0 substitutes `%u`/`%c`
 * only in subscribe/unsubscribe patterns, not in publishClientSend, so a shared role cannot say
 * "publish only on your own topics" there.
 */
import { randomBytes } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import { ErrorCode, ForewarnError, topics } from '../domain/index.ts'

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1'
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`
export const PIPELINE_ROLE = 'forewarn-pipeline'
export const deviceRole = (deviceId: string): string => `forewarn-device-${deviceId}`

export interface DynsecAcl { acltype: string; topic: string; allow: boolean; priority?: number }
export type DynsecCommand = { command: string } & Record<string, unknown>
export interface DynsecResponse { command: string; error?: string; data?: unknown; correlationData?: string }

export interface MosquittoDynsecOptions {
  url: string
  adminUsername: string
  adminPassword: string
  /** How long one command may wait for its response. */
  timeoutMs?: number
  logger?: Logger
}

export interface MosquittoDynsec {
  /** Sends one command and resolves with its response; an `error` in the response is a rejection. */
  command(cmd: DynsecCommand): Promise<DynsecResponse>
  /** Default access deny for publish and subscribe, and the pipeline's role and client (idempotent). */
  ensurePipelineAccount(username: string, password: string): Promise<void>
  /** Creates (or re-keys) the device's client and role; `gatewayId` also lets that gateway speak for it. */
  provisionDevice(deviceId: string, password: string, opts?: { gatewayId?: string | null }): Promise<void>
  /** The new password replaces the old one; Mosquitto drops connections made with the old one. */
  rotateDevice(deviceId: string, password: string): Promise<void>
  /** Deletes the device's client (Mosquitto disconnects it) and its role, and its gateway's ACLs for it. Idempotent. */
  revokeDevice(deviceId: string, opts?: { gatewayId?: string | null }): Promise<void>
  /**
   * Creates (or re-keys) a gateway's client (username = client id = gateway id) with its role,
   * which provisionDevice fills with the ACLs of each device registered behind it.
   */
  provisionGateway(gatewayId: string, password: string): Promise<void>
  /** Deletes the gateway's client (Mosquitto disconnects it) and its role. Idempotent. */
  revokeGateway(gatewayId: string): Promise<void>
  close(): Promise<void>
}

/** The ACLs that make a principal speak for one device (broker/acl.ts, same rules). */
export function deviceAcls(deviceId: string): DynsecAcl[] {
  return [
    { acltype: 'publishClientSend', topic: topics.telemetry(deviceId), allow: true },
    { acltype: 'publishClientSend', topic: topics.status(deviceId), allow: true },
    { acltype: 'publishClientSend', topic: topics.events(deviceId), allow: true },
    { acltype: 'subscribeLiteral', topic: topics.commands(deviceId), allow: true },
  ]
}

export const pipelineAcls: readonly DynsecAcl[] = [
  { acltype: 'subscribePattern', topic: 'appliances/#', allow: true },
  { acltype: 'subscribePattern', topic: 'forewarn/#', allow: true },
  { acltype: 'publishClientSend', topic: 'forewarn/#', allow: true },
  { acltype: 'publishClientSend', topic: 'appliances/+/commands', allow: true },
]

const isNotFound = (e: unknown): boolean => e instanceof ForewarnError && /not found/i.test(e.message)
const isExists = (e: unknown): boolean => e instanceof ForewarnError && /already exists/i.test(e.message)

export async function createMosquittoDynsec(o: MosquittoDynsecOptions): Promise<MosquittoDynsec> {
  const timeoutMs = o.timeoutMs ?? 10_000
  const log = o.logger
  let client: MqttClient
  try {
    client = await mqtt.connectAsync(o.url, {
      username: o.adminUsername, password: o.adminPassword, clientId: `forewarn-dynsec-${randomBytes(6).toString('hex')}`,
      clean: true, reconnectPeriod: 1000, connectTimeout: timeoutMs, protocolVersion: 4,
    }, false)
  } catch (cause) {
    throw new ForewarnError(ErrorCode.BROKER, `cannot connect to ${o.url} as the dynamic-security admin ${o.adminUsername}`, { cause, retriable: true })
  }
  client.on('error', (err) => log?.warn({ err: err.message }, 'dynsec admin connection error'))
  const pending = new Map<string, { resolve: (r: DynsecResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()
  let next = 0
  client.on('message', (topic, payload) => {
    if (topic !== DYNSEC_RESPONSE_TOPIC) return
    let body: { responses?: DynsecResponse[] }
    try {
      body = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] }
    } catch {
      return
    }
    for (const r of body.responses ?? []) {
      const waiter = r.correlationData === undefined ? undefined : pending.get(r.correlationData)
      if (!waiter) continue
      pending.delete(r.correlationData as string)
      clearTimeout(waiter.timer)
      if (r.error) waiter.reject(new ForewarnError(ErrorCode.BROKER, `dynsec ${r.command}: ${r.error}`))
      else waiter.resolve(r)
    }
  })
  const granted = await client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 })
  if (granted.some((g) => g.qos === 128)) {
    await client.endAsync(true)
    throw new ForewarnError(ErrorCode.CONFIG, `${o.adminUsername} may not use the dynamic-security API (is it the dynsec admin, and is the plugin loaded?)`)
  }

  const command = (cmd: DynsecCommand): Promise<DynsecResponse> => {
    const correlationData = String(++next)
    return new Promise<DynsecResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(correlationData)
        reject(new ForewarnError(ErrorCode.BROKER, `dynsec ${cmd.command}: no response within ${timeoutMs} ms (is the plugin loaded?)`, { retriable: true }))
      }, timeoutMs)
      pending.set(correlationData, { resolve, reject, timer })
      // QoS 0: at QoS 1 Mosquitto writes the PUBACK and the response separately and the second
      // waits out the delayed ACK (44 ms a command on loopback, 0.5 ms at QoS 0). The response
      // is the acknowledgement; a lost command times out, and every step here is safe to repeat.
      client.publish(DYNSEC_TOPIC, JSON.stringify({ commands: [{ ...cmd, correlationData }] }), { qos: 0 }, (err) => {
        if (!err) return
        clearTimeout(timer)
        pending.delete(correlationData)
        reject(new ForewarnError(ErrorCode.BROKER, `dynsec ${cmd.command}: ${err.message}`, { cause: err, retriable: true }))
      })
    })
  }
  const ignore = (pred: (e: unknown) => boolean) => (e: unknown): void => {
    if (!pred(e)) throw e
  }

  async function ensureRole(name: string, acls: readonly DynsecAcl[]): Promise<void> {
    const created = await command({ command: 'createRole', rolename: name, acls }).then(() => true, (e: unknown) => {
      if (isExists(e)) return false
      throw e
    })
    if (created) return
    // addRoleACL on an ACL the role already has is refused as a duplicate: that is the goal state.
    for (const acl of acls) await command({ command: 'addRoleACL', rolename: name, ...acl }).catch(ignore((e) => e instanceof ForewarnError && /already|exists/i.test(e.message)))
  }

  async function ensureClient(username: string, password: string, role: string, clientid?: string): Promise<void> {
    const created = await command({
      command: 'createClient', username, password, ...(clientid ? { clientid } : {}), roles: [{ rolename: role }],
    }).then(() => true, (e: unknown) => {
      if (isExists(e)) return false
      throw e
    })
    if (created) return
    // modifyClient replaces the role list as a whole (addClientRole of a role the client already
    // has is an "Internal error" in Mosquitto 2.0.11).
    await command({ command: 'modifyClient', username, password, ...(clientid ? { clientid } : {}), roles: [{ rolename: role }] })
    await command({ command: 'enableClient', username })
  }

  return {
    command,
    async ensurePipelineAccount(username, password) {
      await command({
        command: 'setDefaultACLAccess',
        acls: [{ acltype: 'publishClientSend', allow: false }, { acltype: 'subscribe', allow: false }],
      })
      await ensureRole(PIPELINE_ROLE, pipelineAcls)
      await ensureClient(username, password, PIPELINE_ROLE)
    },
    async provisionDevice(deviceId, password, opts = {}) {
      await ensureRole(deviceRole(deviceId), deviceAcls(deviceId))
      await ensureClient(deviceId, password, deviceRole(deviceId), deviceId)
      if (opts.gatewayId) await ensureRole(deviceRole(opts.gatewayId), deviceAcls(deviceId))
    },
    async rotateDevice(deviceId, password) {
      await command({ command: 'setClientPassword', username: deviceId, password })
    },
    async revokeDevice(deviceId, opts = {}) {
      await command({ command: 'deleteClient', username: deviceId }).catch(ignore(isNotFound))
      await command({ command: 'deleteRole', rolename: deviceRole(deviceId) }).catch(ignore(isNotFound))
      if (opts.gatewayId) {
        for (const { acltype, topic } of deviceAcls(deviceId)) {
          await command({ command: 'removeRoleACL', rolename: deviceRole(opts.gatewayId), acltype, topic }).catch(ignore(isNotFound))
        }
      }
      log?.info({ deviceId }, 'device removed from the broker')
    },
    async provisionGateway(gatewayId, password) {
      await ensureRole(deviceRole(gatewayId), [])
      await ensureClient(gatewayId, password, deviceRole(gatewayId), gatewayId)
    },
    async revokeGateway(gatewayId) {
      await command({ command: 'deleteClient', username: gatewayId }).catch(ignore(isNotFound))
      await command({ command: 'deleteRole', rolename: deviceRole(gatewayId) }).catch(ignore(isNotFound))
      log?.info({ gatewayId }, 'gateway removed from the broker')
    },
    async close() {
      for (const [, w] of pending) {
        clearTimeout(w.timer)
        w.reject(new ForewarnError(ErrorCode.BROKER, 'dynsec client closed'))
      }
      pending.clear()
      await client.endAsync()
    },
  }
}

/** A broker + ingest on an ephemeral loopback port with a fixed registry, for broker tests. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { TopicKind } from '../../domain/index.ts'
import { createEmbeddedBroker, type BrokerLimits, type EmbeddedBroker, type Principal } from '../../broker/index.ts'

export interface Published {
  deviceId: string
  kind: TopicKind
  payload: string
}

export interface Harness {
  broker: EmbeddedBroker
  url: string
  published: Published[]
  /** Replace to delay or fail commits. */
  commit: (p: Published) => Promise<void>
  connect(opts: IClientOptions): Promise<MqttClient>
  close(): Promise<void>
}

export const principals: Record<string, { password: string; principal: Principal }> = {
  fridge1: { password: 'pw-fridge1', principal: { kind: 'device', deviceId: 'fridge1' } },
  fridge2: { password: 'pw-fridge2', principal: { kind: 'device', deviceId: 'fridge2' } },
  hub1: { password: 'pw-hub1', principal: { kind: 'gateway', gatewayId: 'hub1', deviceIds: new Set(['fridge2']) } },
  pipeline: { password: 'pw-pipeline', principal: { kind: 'service', name: 'pipeline' } },
}

export const deviceOpts = (id: string, extra: IClientOptions = {}): IClientOptions => ({
  clientId: id, username: id, password: principals[id]?.password ?? 'x', protocolVersion: 4, reconnectPeriod: 0, ...extra,
})

export async function startHarness(limits: Partial<BrokerLimits> = {}, extra: { allowAnonymous?: boolean; anonymousDenyFilters?: string[] } = {}): Promise<Harness> {
  const clients: MqttClient[] = []
  const h: Harness = {
    broker: null as unknown as EmbeddedBroker,
    url: '',
    published: [],
    commit: async () => {},
    connect(opts) {
      return new Promise((resolve, reject) => {
        const c = mqtt.connect(h.url, { reconnectPeriod: 0, ...opts })
        clients.push(c)
        c.once('connect', () => resolve(c))
        c.once('error', reject)
        c.once('close', () => reject(new Error('closed before connect')))
      })
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})))
      await h.broker.close()
    },
  }
  h.broker = await createEmbeddedBroker({
    port: 0,
    authenticate: async (username, password) => {
      const p = principals[username]
      return p && p.password === password.toString() ? p.principal : null
    },
    onPublish: async (_principal, deviceId, kind, payload) => {
      const p = { deviceId, kind, payload: payload.toString() }
      await h.commit(p)
      h.published.push(p)
    },
    limits,
    ...extra,
  })
  h.url = `mqtt://127.0.0.1:${h.broker.port}`
  return h
}

export async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

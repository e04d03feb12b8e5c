/**
 * A nats-server cluster with JetStream on loopback (SERVICES.md): one process group per node,
 * each with its own store folder under one temporary folder. Ready when every node's monitoring
 * endpoint reports a JetStream meta-cluster leader. A node can be stopped and started again on
 * the same ports and store (a node outage).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fetchWithin, freePorts, removeDir, spawnGroup, stopGroup, tempDir, waitUntil, type GroupProcess } from './process.ts'

export const NATS_SERVER = '/usr/sbin/nats-server'

export interface NatsNode {
  name: string
  clientPort: number
  monitorPort: number
  routePort: number
  url: string
  running(): boolean
  /** The process group of the running node (nats-server itself), null while stopped. */
  pid(): number | null
}

export interface NatsCluster {
  nodes: NatsNode[]
  /** Every node's client URL, comma-separated: what `--cluster` takes. */
  urls: string
  /** Stops one node (SIGTERM by default; SIGKILL for a crash). Its store stays. */
  stopNode(i: number, signal?: NodeJS.Signals): Promise<void>
  /** Starts a stopped node again on the same ports and store, and waits until it serves JetStream. */
  startNode(i: number): Promise<void>
  /** Stops every node and removes the stores. */
  stop(): Promise<void>
}

interface Jsz { meta_cluster?: { leader?: string } }

async function metaLeader(monitorPort: number): Promise<boolean> {
  const res = await fetchWithin(`http://127.0.0.1:${monitorPort}/jsz`)
  if (!res.ok) return false
  const body = (await res.json()) as Jsz
  return typeof body.meta_cluster?.leader === 'string' && body.meta_cluster.leader !== ''
}

interface NodePorts { client: number; monitor: number; route: number }

function nodeConfig(dir: string, i: number, ports: NodePorts[]): string {
  const p = ports[i] as NodePorts
  const store = join(dir, `n${i}`)
  mkdirSync(store, { recursive: true })
  const routes = ports.filter((_, j) => j !== i).map((o) => `nats-route://127.0.0.1:${o.route}`)
  const file = join(dir, `n${i}.conf`)
  writeFileSync(file, [
    `server_name: n${i}`,
    'host: 127.0.0.1',
    `port: ${p.client}`,
    `http_port: ${p.monitor}`,
    `jetstream { store_dir: "${store}" }`,
    `cluster { name: fw, host: 127.0.0.1, port: ${p.route}, routes: [${routes.join(', ')}] }`,
    '',
  ].join('\n'))
  return file
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const dir = tempDir('nats')
  const ports: NodePorts[] = []
  const free = await freePorts(3 * size)
  for (let i = 0; i < size; i++) ports.push({ client: free[3 * i] as number, monitor: free[3 * i + 1] as number, route: free[3 * i + 2] as number })
  const configs = ports.map((_, i) => nodeConfig(dir, i, ports))
  const procs: (GroupProcess | null)[] = ports.map(() => null)
  const launch = (i: number): void => {
    procs[i] = spawnGroup(NATS_SERVER, ['-c', configs[i] as string])
  }
  const ready = (i: number): Promise<void> =>
    waitUntil(`nats-server n${i}`, () => metaLeader((ports[i] as NodePorts).monitor), 30_000, procs[i] ?? undefined)

  for (let i = 0; i < size; i++) launch(i)
  try {
    for (let i = 0; i < size; i++) await ready(i)
  } catch (err) {
    for (const p of procs) if (p) await stopGroup(p.pid, 'SIGKILL', 2_000).catch(() => undefined)
    removeDir(dir)
    throw err
  }
  const nodes: NatsNode[] = ports.map((p, i) => ({
    name: `n${i}`, clientPort: p.client, monitorPort: p.monitor, routePort: p.route, url: `nats://127.0.0.1:${p.client}`,
    running: () => procs[i] !== null && !(procs[i] as GroupProcess).exited(),
    pid: () => procs[i]?.pid ?? null,
  }))
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    async stopNode(i, signal = 'SIGTERM') {
      const p = procs[i]
      if (!p) return
      await stopGroup(p.pid, signal)
      procs[i] = null
    },
    async startNode(i) {
      if (procs[i]) return
      launch(i)
      await ready(i)
    },
    async stop() {
      for (const p of procs) if (p) await stopGroup(p.pid)
      procs.fill(null)
      removeDir(dir)
    },
  }
}

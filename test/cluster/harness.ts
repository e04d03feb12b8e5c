/**
 * What the cluster suites share (docs/scaling.md): a three-node NATS cluster, PostgreSQL with the
 * suite's databases, and Forewarn processes, in this process (`start`) or as children (`spawn`).
 * `useCluster` registers the suite's beforeAll and afterAll, so what it starts is stopped in the
 * same place: processes first (children SIGKILLed, runs stopped), then NATS, PostgreSQL and the
 * data folders.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import type { NatsConnection } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { afterAll, beforeAll } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { defaultNames } from '../../cluster/nats.ts'
import type { DeviceCheckpoint } from '../../cluster/worker.ts'
import { startNatsCluster, type NatsClusterService } from '../services/nats.ts'
import { startPostgres, type PostgresService } from '../services/postgres.ts'
import { freePort } from '../services/process.ts'
import { spawnForewarn } from '../e2e/helpers.ts'

export interface ClusterOptions {
  /** Names the data folders: `forewarn-cluster-<name>-…`. */
  name: string
  adminKey: string
  /** Databases created in PostgreSQL; the first is what a process uses unless told otherwise. */
  databases: readonly string[]
  /** Runs after the servers are up, still in the suite's beforeAll. */
  ready?: (cluster: Cluster) => Promise<void>
}

export interface StartOptions {
  /** Environment besides FOREWARN_ADMIN_KEY (lease TTL, checkpoint period, …). */
  env?: Record<string, string>
  /** One of the suite's databases (default: the first). */
  database?: string
  log?: Logger
  /** Fixed ports; 0 (the default) lets the process choose. */
  mqttPort?: number
  apiPort?: number
}

/** A Forewarn child process with its own API. */
export interface Child {
  proc: ChildProcess
  apiUrl: string
}

export interface Cluster {
  readonly nats: NatsClusterService
  readonly postgres: PostgresService
  databaseUrl(name?: string): string
  /** A fresh data folder, removed after the suite. */
  dataDir(): string
  /** `forewarn start` in this process with the cluster and the given roles (undefined: the default). */
  start(roles: string | undefined, o?: StartOptions): Promise<Running>
  /** `forewarn start --cluster … --roles <roles>` as a child process; its API on a free port. */
  spawn(roles: string, env: Record<string, string>): Promise<Child>
}

export function useCluster(o: ClusterOptions): Cluster {
  let nats: NatsClusterService | undefined
  let postgres: PostgresService | undefined
  const urls = new Map<string, string>()
  const runs: Running[] = []
  const children: ChildProcess[] = []
  const dirs: string[] = []

  const cluster: Cluster = {
    get nats() {
      if (!nats) throw new Error('the NATS cluster is not started yet')
      return nats
    },
    get postgres() {
      if (!postgres) throw new Error('PostgreSQL is not started yet')
      return postgres
    },
    databaseUrl(name = o.databases[0]) {
      const url = name === undefined ? undefined : urls.get(name)
      if (!url) throw new Error(`no database ${name ?? '(none)'} in this suite`)
      return url
    },
    dataDir() {
      const d = mkdtempSync(join(tmpdir(), `forewarn-cluster-${o.name}-`))
      dirs.push(d)
      return d
    },
    async start(roles, s = {}) {
      const config = loadStartConfig(
        { dataDir: cluster.dataDir(), mqttPort: s.mqttPort ?? 0, apiPort: s.apiPort ?? 0, simulate: 0, cluster: cluster.nats.urls, ...(roles ? { roles } : {}) },
        { FOREWARN_ADMIN_KEY: o.adminKey, ...s.env },
      )
      const run = await startForewarn(config, s.log ?? pino({ level: 'silent' }), { DATABASE_URL: cluster.databaseUrl(s.database) })
      runs.push(run)
      return run
    },
    async spawn(roles, env) {
      const apiPort = await freePort()
      const proc = await spawnForewarn(['--cluster', cluster.nats.urls, '--roles', roles, '--mqtt-port', '0', '--data-dir', cluster.dataDir()], env, apiPort)
      children.push(proc)
      return { proc, apiUrl: `http://127.0.0.1:${apiPort}` }
    },
  }

  beforeAll(async () => {
    nats = await startNatsCluster(3)
    postgres = await startPostgres()
    for (const name of o.databases) urls.set(name, await postgres.createDatabase(name))
    await o.ready?.(cluster)
  }, 60_000)
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL')
    for (const r of runs) await r.stop()
    await nats?.stop()
    await postgres?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  return cluster
}

/** Who holds each partition's claim now (`part.<p>` in the leases bucket). */
export async function claims(nc: NatsConnection): Promise<Map<number, string>> {
  const kv = await new Kvm(nc).open(defaultNames.leases)
  const out = new Map<number, string>()
  for (let p = 0; p < defaultNames.partitions; p++) {
    const e = await kv.get(`part.${p}`)
    if (e && e.operation === 'PUT') out.set(p, e.string())
  }
  return out
}

/** Each device's stored checkpoint (`snap.<id>`), null when it has none. */
export async function deviceCheckpoints(nc: NatsConnection, ids: readonly string[]): Promise<Map<string, DeviceCheckpoint | null>> {
  const kv = await new Kvm(nc).open(defaultNames.checkpoints)
  const out = new Map<string, DeviceCheckpoint | null>()
  for (const id of ids) {
    const e = await kv.get(`snap.${id}`)
    out.set(id, e && e.operation === 'PUT' ? e.json<DeviceCheckpoint>() : null)
  }
  return out
}

/** A gauge or counter of a process's /metrics (no labels). */
export async function metric(apiUrl: string, adminKey: string, name: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  if (!m) throw new Error(`no metric ${name} at ${apiUrl}`)
  return Number(m[1])
}

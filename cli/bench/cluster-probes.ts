/**
 * What `forewarn bench --cluster` reads from the servers it starts (servers/: a three-node NATS
 * cluster with JetStream and PostgreSQL on loopback): a fresh JetStream between configurations,
 * PostgreSQL's WAL writes and the CPU its process group used.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import pg from 'pg'
import type { NatsCluster } from '../../servers/nats.ts'
import type { PostgresServer } from '../../servers/postgres.ts'
import { groupPids } from '../../servers/process.ts'
import { cpuSecondsOfStat } from './servers.ts'

/** CPU seconds of a process group's live members: a backend that exited in between is not counted. */
export function groupCpuSeconds(pgid: number): number {
  return groupPids(pgid).reduce((s, pid) => s + (cpuSecondsOfStat(`/proc/${pid}/stat`) || 0), 0)
}

/** nats-server's pids, one per node (each node is its own process). */
export function natsPids(nats: NatsCluster): number[] {
  return nats.nodes.map((n) => n.pid() ?? -1)
}

/** Deletes every stream (the readings, the registry, the KV buckets): a fresh cluster for the next configuration. */
export async function resetStreams(nats: NatsCluster): Promise<void> {
  const nc = await connect({ servers: nats.urls.split(','), name: 'forewarn bench' })
  try {
    const jsm = await jetstreamManager(nc)
    const names: string[] = []
    for await (const s of jsm.streams.list()) names.push(s.config.name)
    for (const name of names) await jsm.streams.delete(name)
  } finally {
    await nc.close()
  }
}

/** The WAL position flushed so far (pg_current_wal_flush_lsn). */
export async function walPosition(server: PostgresServer): Promise<string> {
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  try {
    const { rows } = await c.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')
    return rows[0]?.lsn ?? '0/0'
  } finally {
    await c.end()
  }
}

/**
 * Write transactions (WAL commit records) and row writes (heap insert, update, delete records)
 * between two WAL positions, from `pg_waldump --stats=record`: exact and immediate, where
 * pg_stat_database lags by up to 10 s for a backend that goes idle.
 */
export function walWrites(server: PostgresServer, from: string, to: string): { commits: number; rows: number } {
  if (from === to) return { commits: 0, rows: 0 }
  const out = execFileSync(join(server.binDir, 'pg_waldump'), ['--stats=record', '-p', join(server.dataDir, 'pg_wal'), '-s', from, '-e', to], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] })
  return walCounts(out)
}

/** One record per row written; a multi-row insert (Heap2/MULTI_INSERT) is one record for its rows. */
const ROW_RECORDS = new Set([
  'Heap/INSERT', 'Heap/INSERT+INIT', 'Heap/UPDATE', 'Heap/UPDATE+INIT', 'Heap/HOT_UPDATE', 'Heap/HOT_UPDATE+INIT', 'Heap/DELETE',
  'Heap2/MULTI_INSERT', 'Heap2/MULTI_INSERT+INIT',
])

/** Counts of `pg_waldump --stats=record`: commit records, and heap row-write records. */
export function walCounts(stats: string): { commits: number; rows: number } {
  let commits = 0
  let rows = 0
  for (const line of stats.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s+\(/.exec(line)
    if (!m) continue
    const [, type, n] = m as unknown as [string, string, string]
    if (type === 'Transaction/COMMIT') commits += Number(n)
    else if (ROW_RECORDS.has(type)) rows += Number(n)
  }
  return { commits, rows }
}

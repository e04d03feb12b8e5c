/**
 * Issue 17, roles: `--roles` decides what a cluster process runs and which ports it opens. `edge`
 * is the MQTT broker (and ingest to the stream), `worker` the partitions, `api` the HTTP API,
 * console and ticket delivery; a process without a role does not listen on that role's port.
 * The default (no --roles) is all three.
 */
import { existsSync } from 'node:fs'
import { connect as tcpConnect } from 'node:net'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import type { Running } from '../../cli/start.ts'
import { describeService } from '../services/availability.ts'
import { freePort } from '../services/process.ts'
import { useCluster } from './harness.ts'

const ADMIN_KEY = 'cluster-roles-admin-key-0123456789a'

/** Whether the process left an ingest journal in its data directory (only an edge has a use for one). */
const journalOnDisk = (run: Running): boolean => existsSync(join(run.config.dataDir, 'ingest.db'))

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

describeService(['nats', 'postgres'], 'cluster roles: each role opens its own port only', () => {
  const cluster = useCluster({ name: 'roles', adminKey: ADMIN_KEY, databases: ['roles'] })

  /** Starts a process with fixed free ports and reports which of them listen. */
  const probe = async (roles: string | undefined, check: (run: Running) => void | Promise<void>): Promise<{ mqtt: boolean; http: boolean }> => {
    const mqttPort = await freePort()
    const apiPort = await freePort()
    const run = await cluster.start(roles, { mqttPort, apiPort })
    try {
      await check(run)
      return { mqtt: await listening(mqttPort), http: await listening(apiPort) }
    } finally {
      await run.stop()
    }
  }

  it('a worker-only process opens neither an MQTT nor an HTTP port', async () => {
    const ports = await probe('worker', (run) => {
      expect(run.config.roles).toEqual(['worker'])
      expect(run.broker).toBeNull()
      expect(run.worker).not.toBeNull()
      expect(() => run.apiUrl).toThrow(/no api role/)
      expect(() => run.mqttUrl).toThrow(/no edge role/)
      expect(journalOnDisk(run)).toBe(false)
    })
    expect(ports).toEqual({ mqtt: false, http: false })
  }, 60_000)

  it('edge opens MQTT only, api opens HTTP only (and is ready without a broker); neither runs a worker', async () => {
    expect(await probe('edge', (run) => {
      expect(run.worker).toBeNull()
      expect(() => run.apiUrl).toThrow(/no api role/)
      // Its dead letters live there.
      expect(journalOnDisk(run)).toBe(true)
    })).toEqual({ mqtt: true, http: false })
    expect(await probe('api', async (run) => {
      expect(run.worker).toBeNull()
      expect(run.broker).toBeNull()
      expect(journalOnDisk(run)).toBe(false)
      // Ready without a broker of its own: the broker check is an edge's.
      const ready = await fetch(`${run.apiUrl}/readyz`)
      expect([ready.status, Object.keys(((await ready.json()) as { checks: object }).checks).sort()]).toEqual([200, ['database', 'ingest', 'records']])
      // One scrape reads the cluster view once, for both of its gauges.
      const node = run.cluster!
      const view = node.view.bind(node)
      let views = 0
      node.view = () => { views++; return view() }
      const scrape = await fetch(`${run.apiUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      expect([scrape.status, /^forewarn_cluster_partitions_unowned \d+$/m.test(await scrape.text()), views]).toEqual([200, true, 1])
    })).toEqual({ mqtt: false, http: true })
  }, 60_000)

  it('without --roles a cluster process runs all three: MQTT, HTTP and a worker', async () => {
    const ports = await probe(undefined, (run) => {
      expect(run.config.roles).toEqual(['edge', 'worker', 'api'])
      expect(run.broker).not.toBeNull()
      expect(run.worker).not.toBeNull()
    })
    expect(ports).toEqual({ mqtt: true, http: true })
  }, 60_000)
})

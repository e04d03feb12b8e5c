/**
 * Issue 17, equivalence: the same fleet and seed give the same tickets in a cluster as in one
 * process. Three NATS nodes, PostgreSQL, and two Forewarn processes that are both edge and worker
 * (one also api). The issue-14 scenario fleet (four appliances with injected faults, one healthy)
 * is split over both edges; afterwards the tickets equal the ground truth (each fault code once)
 * and equal, with the warnings and each appliance's history, those of a single-process run.
 * Rerun with `npx vitest run test/cluster/equivalence.test.ts`.
 */
import pino from 'pino'
import { expect, it } from 'vitest'
import type { Running } from '../../cli/start.ts'
import { defaultNames } from '../../cluster/nats.ts'
import { partitionOf } from '../../domain/ownership.ts'
import { describeService } from '../services/availability.ts'
import { provision, waitFor } from '../e2e/helpers.ts'
import { useCluster } from './harness.ts'
import {
  ADMIN_KEY, DAYS, groundTruth, outcomeOf, runScenario, scenarioTypes, startScenarioFleet, type Outcome,
} from '../e2e/outage-scenario.ts'

const PREFIX = 'EQ'
/** Fleet pacing (wall ms between ticks, readings per appliance per tick), the same for both runs. */
const PACE = { intervalMs: 5, batchSize: 240 }
const READINGS = scenarioTypes.length * DAYS * 24 * 60

describeService(['nats', 'postgres'], 'cluster equivalence: the same fleet gives the same tickets as one process', () => {
  const servers = useCluster({ name: 'equiv', adminKey: ADMIN_KEY, databases: ['single', 'cluster'] })

  it('tickets = ground truth, one per fault, and the same records as a single-process run', async () => {
    const quiet = pino({ level: 'silent' })
    const single = await runScenario({ dataDir: servers.dataDir(), env: { DATABASE_URL: servers.databaseUrl('single') }, log: quiet, serialPrefix: PREFIX, ...PACE })
    await single.run.stop()
    expect(single.outcome.ticketed).toEqual(groundTruth(PREFIX))

    const start = (roles: string): Promise<Running> => servers.start(roles, {
      env: { FOREWARN_HEALTH_FLUSH_MS: '100', FOREWARN_CHECKPOINT_MS: '200', FOREWARN_CLUSTER_LEASE_TTL_MS: '3000' }, database: 'cluster', log: quiet,
    })
    const a = await start('edge,worker,api')
    const b = await start('edge,worker')
    const workers = [a.worker!, b.worker!]
    // Both workers hold partitions before the fleet starts, so each folds part of it.
    await waitFor('the partitions split between both workers', async () => {
      const owned = workers.map((w) => w.owned().length)
      return owned[0]! > 0 && owned[1]! > 0 && owned[0]! + owned[1]! === defaultNames.partitions && !workers.some((w) => w.stats().rebalancing) ? true : undefined
    }, 30_000, 100)

    const members = (await provision(a.apiUrl, ADMIN_KEY, scenarioTypes, PREFIX)).map((m, index) => ({ ...m, index }))
    const serialOf = new Map(members.map((m) => [m.deviceId, `${PREFIX}-${m.index}`]))
    // Even members on A's edge, odd ones on B's: faults on both edges.
    const fleets = [a, b].map((run, e) => startScenarioFleet(run.mqttUrl, members.filter((m) => m.index % 2 === e), PACE))
    const summaries = await Promise.all(fleets.map((f) => f.done))
    for (const s of summaries) expect([s.failed, s.acknowledged]).toEqual([0, s.published])
    expect(summaries.reduce((n, s) => n + s.published, 0)).toBe(READINGS)

    // Every reading folded by one of the workers, and their effects stored.
    await waitFor('every reading folded', async () => (workers.reduce((n, w) => n + w.stats().readings, 0) >= READINGS ? true : undefined), 180_000, 200)
    await Promise.all(workers.map((w) => w.checkpoint()))
    await new Promise((r) => setTimeout(r, 1_000))
    expect(workers.reduce((n, w) => n + w.stats().readings, 0)).toBe(READINGS)
    // Each worker folded exactly the devices in the partitions it owns. Device ids are random, so
    // all five can hash to one worker's partitions (about one run in sixteen): the split is checked
    // per device, not as "both workers > 0".
    const perDevice = DAYS * 24 * 60
    const owners = workers.map((w) => new Set(w.owned()))
    expect(owners[0]!.size + owners[1]!.size).toBe(defaultNames.partitions)
    const expected = owners.map((o) => members.filter((m) => o.has(partitionOf(m.deviceId, defaultNames.partitions))).length * perDevice)
    expect(workers.map((w) => w.stats().readings)).toEqual(expected)

    const cluster: Outcome = await outcomeOf(a, serialOf)
    expect(cluster.ticketed).toEqual(groundTruth(PREFIX))
    expect(cluster.tickets).toEqual(single.outcome.tickets)
    expect(cluster.warnings).toEqual(single.outcome.warnings)
    expect(cluster.history).toEqual(single.outcome.history)
    expect(a.ingest.stats().accepted + b.ingest.stats().accepted).toBe(single.outcome.readings)
  }, 420_000)
})

import { defineConfig } from 'vitest/config'

/**
 * Two groups, one after the other. Most test files wait on real servers (RT, InfluxDB, outages
 * timed in seconds) far more than they compute, so they run two at a time. The files that measure
 * throughput or hold timing bounds under CPU load (the benches, the NATS cluster suites, the broker
 * flood, several deliverers racing for one outbox) run afterwards, one at a time, on a machine
 * nothing else in the suite is loading. Vitest's default on a 2-core machine is one file at a time
 * for everything: `npm test` took 17 min that way (1,046 s in CI), over the 15-minute budget.
 */
const alone = [
  'test/cluster/**/*.test.ts',
  'test/cli/bench.test.ts',
  'test/cli/bench-cluster.test.ts',
  'test/broker/flood.test.ts',
  'test/e2e/several-deliverers.test.ts',
]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
    globalSetup: [],
    projects: [
      {
        extends: true,
        test: {
          name: 'together',
          include: ['test/**/*.test.ts'],
          exclude: alone,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'alone',
          include: alone,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})

/**
 * cli/metrics.ts: the cluster view behind `forewarn_cluster_lag` and
 * `forewarn_cluster_partitions_unowned` is computed once per scrape, and both gauges read it.
 */
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { registerClusterViewMetrics } from '../../cli/metrics.ts'

type View = { partitions: { partition: number; owner: string | null; lag: number | null }[] }

describe('registerClusterViewMetrics', () => {
  it('computes the cluster view once per scrape, and both gauges report that one view', async () => {
    const registry = new Registry()
    // Each call sees one more partition lose its owner (a lease expiring between two reads).
    let calls = 0
    const view = (): View => {
      calls++
      return { partitions: [0, 1, 2, 3].map((p) => (p < calls ? { partition: p, owner: null, lag: null } : { partition: p, owner: 'w1', lag: 10 + p })) }
    }
    registerClusterViewMetrics(registry, view)

    const first = await registry.metrics()
    expect(calls).toBe(1)
    // One view: partition 0 unowned, 1-3 owned by w1.
    expect(first).toMatch(/^forewarn_cluster_partitions_unowned 1$/m)
    expect(first.match(/^forewarn_cluster_lag\{/gm)).toHaveLength(3)
    expect(first).not.toMatch(/partition="0"/)

    const second = await registry.metrics()
    expect(calls).toBe(2)
    expect(second).toMatch(/^forewarn_cluster_partitions_unowned 2$/m)
    expect(second.match(/^forewarn_cluster_lag\{/gm)).toHaveLength(2)
  })

  it('a gauge read on its own gets a fresh view', async () => {
    const registry = new Registry()
    let calls = 0
    registerClusterViewMetrics(registry, () => {
      calls++
      return { partitions: [{ partition: 0, owner: null, lag: null }] }
    })
    await registry.getSingleMetricAsString('forewarn_cluster_partitions_unowned')
    await registry.getSingleMetricAsString('forewarn_cluster_partitions_unowned')
    expect(calls).toBe(2)
  })
})

/**
 * The pipeline folds a batch reading by reading: a reading the detector throws on (a defect, never
 * bad input, which ingest refuses first) costs that reading alone, never the rest of its batch,
 * whose journal cursor has already moved. Real SQLite store (memory), real catalogue detector;
 * the only stand-in is a detector wrapper that throws for one device, to play the defect.
 */
import pino from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { openConfiguredStore } from '../../api/store/open.ts'
import { createCatalogueDetector } from '../../detectors/catalogue-detector.ts'
import type { Detector } from '../../detectors/index.ts'
import { applianceTypes, metricNames, type Reading } from '../../domain/index.ts'
import { createPipelineMetrics } from '../../cli/metrics.ts'
import { createPipeline } from '../../cli/pipeline.ts'

describe('pipeline', () => {
  it('skips only the reading the detector throws on, folds the rest of the batch and counts it', async () => {
    const store = await openConfiguredStore({ dataDir: null })
    const real = createCatalogueDetector()
    const folded = new Map<string, number>()
    const detector: Detector = Object.assign(Object.create(real) as Detector, {
      process(r: Reading) {
        if (r.deviceId === 'broken' && r.seq === 2) throw new Error('a defect on this reading')
        folded.set(r.deviceId, (folded.get(r.deviceId) ?? 0) + 1)
        return real.process(r)
      },
    })
    const registry = new Registry()
    const pipeline = createPipeline({
      store, detector, sink: null, log: pino({ level: 'silent' }), offlineAfterIntervals: 5,
      metrics: createPipelineMetrics(registry), publish: () => Promise.resolve(),
    })
    const type = applianceTypes[0]!
    for (const id of ['broken', 'fine']) pipeline.remember({ id, type, model: 'm', region: 'north', revoked: false })
    const metrics = Object.fromEntries([...metricNames[type]!].map((m) => [m, 1]))
    const t0 = Date.parse('2026-01-01T00:00:00Z')
    const reading = (deviceId: string, seq: number): Reading => ({ deviceId, boot: 1, seq, ts: t0 + seq * 60_000, metrics })
    const batch = [1, 2, 3].flatMap((seq) => [reading('broken', seq), reading('fine', seq)])

    await pipeline.onReadings(batch)
    await pipeline.settled()
    expect(Object.fromEntries(folded)).toEqual({ broken: 2, fine: 3 })
    expect(pipeline.readings()).toBe(batch.length)
    expect(await registry.getSingleMetricAsString('forewarn_detector_errors_total')).toMatch(/forewarn_detector_errors_total 1$/m)
    await store.close()
  })
})

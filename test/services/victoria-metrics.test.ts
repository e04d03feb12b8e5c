import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from './availability.ts'
import { groupAlive } from './process.ts'
import { startVictoriaMetrics, type VictoriaMetricsService } from './victoria-metrics.ts'

describeService('victoria-metrics', 'VictoriaMetrics test server (InfluxDB v2 write API)', () => {
  let vm: VictoriaMetricsService
  beforeAll(async () => {
    vm = await startVictoriaMetrics()
  })
  afterAll(async () => {
    await vm?.stop()
  })

  it('accepts /api/v2/write and stores a re-sent point once', async () => {
    const now = Date.now()
    const body = `m,k=a f=1 ${now - 2}\nm,k=a f=2 ${now - 1}`
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${vm.url}/api/v2/write?org=o&bucket=b&precision=ms`, { method: 'POST', body })
      expect(res.status).toBe(204)
    }
    let values: number[] = []
    for (let i = 0; i < 50 && values.length < 2; i++) {
      await vm.forceFlush()
      values = (await vm.exportSeries('{__name__="m_f"}')).flatMap((s) => s.values)
      if (values.length < 2) await new Promise((r) => setTimeout(r, 100))
    }
    expect(values).toEqual([1, 2])
  })

  it('leaves no process behind when stopped', async () => {
    const pid = vm.pid()
    await vm.stop()
    expect(groupAlive(pid)).toBe(false)
  })
})

/** One contract suite over every TelemetrySink implementation (STYLE.md 7). */
import { afterAll, describe, expect, it } from 'vitest'
import type { TelemetrySink } from '../../../ingest/sink.ts'
import { createInfluxSink } from '../../../ingest/sinks/influx.ts'
import { createInfluxThreadSink } from '../../../ingest/sinks/influx-thread.ts'
import type { InfluxWriter } from '../../../ingest/sinks/influx-writers.ts'
import { createMemorySink } from '../../../ingest/sinks/memory.ts'
import { fakeInfluxHttp, makeReadings, type FakeInfluxHttp } from './fixtures.ts'

function acceptingWriter(): InfluxWriter & { lines: string[] } {
  const lines: string[] = []
  return { lines, async write(blocks) { for (const b of blocks) lines.push(...b.toString('utf8').split('\n')) }, async validate() {}, async close() {} }
}

const servers: FakeInfluxHttp[] = []
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close()
})

async function threadSinkOnHttp(): Promise<TelemetrySink> {
  const db = await fakeInfluxHttp()
  servers.push(db)
  return createInfluxThreadSink({ api: 'v1', url: db.url, database: 'd', username: null, password: null }, { spoolDir: null, validate: false, statsIntervalMs: 0 })
}

const implementations: [string, () => Promise<TelemetrySink>][] = [
  ['memory', async () => createMemorySink()],
  ['influx (accepting database)', () => createInfluxSink({ api: 'v1', url: 'http://127.0.0.1:1', database: 'd', username: null, password: null },
    { spoolDir: null, writer: acceptingWriter(), statsIntervalMs: 0 })],
  ['influx in a worker thread (accepting HTTP endpoint)', threadSinkOnHttp],
]

describe.each(implementations)('TelemetrySink contract: %s', (_name, make) => {
  it('accepts every kind of record without throwing and has nothing pending after flush', async () => {
    const sink = await make()
    const tags = { type: 'washing_machine', model: 'W1', region: 'r' }
    sink.writeReadings(makeReadings(50, 5))
    sink.writeReadings([])
    sink.writeHealth('d', tags, { overall: 90, status: 'healthy', components: {}, usage: { runningHours: 0, cycles: 0, doorOpenings: 0 }, lastEventTime: null, warmingUp: true }, 1)
    sink.writeWarning({ kind: 'warning.cleared', deviceId: 'd', episodeId: 'd:X:1', faultCode: 'X', component: 'c', severity: 'watch', eventTime: 1, message: 'm', evidence: [], rul: null, source: 'firmware' }, tags, 2)
    sink.writeTicketEvent({ ticketId: 't', deviceId: 'd', type: 'washing_machine', faultCode: 'X', priority: 'P3', event: 'delivered', state: 'open', slaState: 'on_time', atMs: 3 })
    sink.writePipeline('ingest', { accepted: 1 }, 4)
    await sink.flush()
    expect(sink.state()).toEqual({ state: 'writing', spoolBytes: 0, pending: 0 })
    expect(sink.backpressure).toBe(false)
    await sink.close()
    expect(sink.state().state).toBe('off')
  })

  it('ignores writes after close and still resolves flush and close', async () => {
    const sink = await make()
    await sink.close()
    expect(() => sink.writeReadings(makeReadings(3))).not.toThrow()
    await sink.flush()
    await sink.close()
    expect(sink.state()).toMatchObject({ state: 'off', pending: 0 })
  })
})

/**
 * Run as a child process by influx-v1.test.ts: writes readings through a sink with a spool, says
 * FLUSHED once they are all written or on disk, then idles until it is SIGKILLed.
 */
import { createInfluxSink } from '../../../ingest/sinks/influx.ts'
import { makeReadings } from './fixtures.ts'

const { url, database, username, password, spoolDir, count } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string; database: string; username: string; password: string; spoolDir: string; count: number
}
const sink = await createInfluxSink({ api: 'v1', url, database, username, password }, {
  spoolDir, statsIntervalMs: 0, batchSize: 500, flushIntervalMs: 100, minRetryDelayMs: 50, maxRetryDelayMs: 500, spoolAfterMs: 300,
})
sink.writeReadings(makeReadings(count, 10))
await sink.flush()
process.stdout.write(`FLUSHED ${JSON.stringify(sink.state())}\n`)
setInterval(() => {}, 1_000)

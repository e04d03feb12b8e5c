/**
 * The ingest journal stays bounded (issue 14): checkpoints prune what they passed down to
 * `maxProcessedRows`, whatever the dedupe window says, and the file stops growing. Also measures
 * bytes per reading on disk for docs/journal.md (printed; rerun this file to reproduce).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createIngest, type Ingest, type IngestOptions } from '../../ingest/index.ts'
import { createSimAppliance } from '../../simulators/appliance.ts'

const NOW = Date.UTC(2026, 0, 10)
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function make(dataDir: string | null, extra: Partial<IngestOptions> = {}): Ingest {
  return createIngest({
    dataDir,
    lookupDevice: () => ({ type: 'refrigerator', revoked: false }),
    onReadings: () => undefined,
    onStatus: () => undefined,
    onDeviceEvent: () => undefined,
    now: () => NOW,
    groupCommitMs: 0,
    ...extra,
  })
}

const single = (seq: number): Buffer =>
  Buffer.from(JSON.stringify({ v: 1, boot: 1, ts: NOW - 100_000 + seq, seq, metrics: { cabinet_temp_c: 4.1, compressor_current_a: 1.2 } }))

/** A simulated refrigerator's readings as the fleet publishes them: one reading per message. */
function* fridgePayloads(n: number): Generator<Buffer> {
  const sim = createSimAppliance({ deviceId: 'fridge1', type: 'refrigerator', seed: 7, startMs: NOW - 30 * 86_400_000 })
  for (let seq = 0; seq < n; seq++) {
    const r = sim.next()
    yield Buffer.from(JSON.stringify({ v: 1, boot: 1, ts: r.ts, seq, metrics: r.metrics }))
  }
}

/** Accepts `n` readings in groups of 500, checkpointing every `checkpointEvery`; returns the file size after close. */
async function fill(dir: string, n: number, opts: Partial<IngestOptions>, checkpointEvery: number | null): Promise<number> {
  const ingest = make(dir, opts)
  await ingest.start()
  let pending: Promise<unknown>[] = []
  let i = 0
  for (const p of fridgePayloads(n)) {
    pending.push(ingest.accept('fridge1', 'telemetry', p))
    if (++i % 500 === 0) {
      await Promise.all(pending)
      pending = []
    }
    if (checkpointEvery !== null && i % checkpointEvery === 0) {
      await new Promise((r) => setImmediate(r))
      ingest.checkpoint([])
    }
  }
  await Promise.all(pending)
  await ingest.close()
  // close() checkpoints the WAL into the database file and removes it.
  return statSync(join(dir, 'ingest.db')).size
}

describe('ingest journal bound', () => {
  it('a checkpoint prunes processed rows beyond maxProcessedRows, even inside the dedupe window', async () => {
    const ingest = make(null, { maxProcessedRows: 2 })
    await ingest.start()
    for (let seq = 0; seq < 5; seq++) await ingest.accept('fridge1', 'telemetry', single(seq))
    await new Promise((r) => setImmediate(r))
    ingest.checkpoint([])
    await new Promise((r) => setImmediate(r))
    // Rows 0-2 are gone (a resend is new again); the last two processed rows are still remembered.
    const again = await Promise.all([0, 1, 2, 3, 4].map((seq) => ingest.accept('fridge1', 'telemetry', single(seq))))
    expect(again.map((o) => (o.ok ? o.accepted : -1))).toEqual([1, 1, 1, 0, 0])
    await ingest.close()
  })

  it('stays within its bound on disk while readings keep coming, and measures bytes per reading', async () => {
    const n = 40_000
    const unbounded = mkdtempSync(join(tmpdir(), 'forewarn-journal-'))
    const bounded = mkdtempSync(join(tmpdir(), 'forewarn-journal-'))
    dirs.push(unbounded, bounded)
    const all = await fill(unbounded, n, {}, null)
    const bytesPerReading = all / n
    const keep = 5_000
    const kept = await fill(bounded, n, { maxProcessedRows: keep }, 2_500)
    console.log(`journal: ${n} simulated refrigerator readings = ${all} bytes (${bytesPerReading.toFixed(0)} bytes per reading); `
      + `with maxProcessedRows ${keep} and a checkpoint every 2,500 readings: ${kept} bytes`)
    // Bytes per reading of a row with its two unique-index entries: a regression here is a schema change.
    expect(bytesPerReading).toBeGreaterThan(100)
    expect(bytesPerReading).toBeLessThan(600)
    // Kept: at most maxProcessedRows + one checkpoint interval of rows, plus pages not yet reused.
    expect(kept).toBeLessThan((keep + 2_500) * bytesPerReading * 1.5)
  }, 60_000)
})

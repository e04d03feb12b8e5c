/**
 * Worker thread body of the journal writer (journal-writer.ts): owns one SQLite connection and runs
 * group commits (inserts and fsync) and checkpoints off the event loop that parses MQTT and sends
 * PUBACKs. Requests are handled one at a time, in order, each answered with one reply.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { openJournal, type PendingRow } from './journal.ts'
import { type WriteReply, type WriteRequest, SEP, perform } from './journal-writer.ts'

const port = parentPort
if (port === null) throw new Error('journal-worker.ts runs in a worker thread')
const { dataDir, maxRejects } = workerData as { dataDir: string; maxRejects: number }
const journal = openJournal(dataDir, maxRejects)

function unpack(packed: string, count: number): PendingRow[] {
  const f = count > 0 ? packed.split(SEP) : []
  const rows: PendingRow[] = new Array<PendingRow>(count)
  for (let i = 0, o = 0; i < count; i++, o += 6) {
    rows[i] = {
      deviceId: f[o] as string, kind: Number(f[o + 1]), boot: Number(f[o + 2]),
      seq: Number(f[o + 3]), ts: Number(f[o + 4]), body: f[o + 5] as string,
    }
  }
  return rows
}

port.on('message', (req: WriteRequest) => {
  if (req.op === 'close') {
    journal.close()
    port.close()
    return
  }
  let reply: WriteReply
  try {
    reply = { ok: true, ids: perform(journal, req, req.op === 'commit' ? unpack(req.packed, req.count) : []) }
  } catch (err) {
    reply = { ok: false, message: (err as Error).message }
  }
  port.postMessage(reply)
})

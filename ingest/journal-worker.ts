/**
 * Worker thread body of the journal writer (journal-writer.ts): owns one SQLite connection and runs
 * group commits (inserts and fsync) and checkpoints off the event loop that parses MQTT and sends
 * PUBACKs. Requests run in order, each answered with one reply; every commit already waiting in
 * the queue goes into the same transaction (one fsync).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads'
import { openJournal, type PendingReject, type PendingRow } from './journal.ts'
import { type WriteReply, type WriteRequest, SEP, performCheckpoint } from './journal-writer.ts'

type CommitRequest = Extract<WriteRequest, { op: 'commit' }>

const port = parentPort
if (port === null) throw new Error('journal-worker.ts runs in a worker thread')
const { dataDir, maxRejects } = workerData as { dataDir: string; maxRejects: number }
const journal = openJournal(dataDir, maxRejects)
let tx = 0

function unpack(req: CommitRequest, rows: PendingRow[]): void {
  const f = req.count > 0 ? req.packed.split(SEP) : []
  for (let i = 0, o = 0; i < req.count; i++, o += 6) {
    rows.push({
      deviceId: f[o] as string, kind: Number(f[o + 1]), boot: Number(f[o + 2]),
      seq: Number(f[o + 3]), ts: Number(f[o + 4]), body: f[o + 5] as string,
    })
  }
}

/** Consecutive commits as one transaction; each request gets its slice of the ids. */
function commitGroup(group: CommitRequest[]): void {
  const rows: PendingRow[] = []
  const rejects: PendingReject[] = []
  for (const req of group) {
    unpack(req, rows)
    for (const j of req.rejects) rejects.push(j)
  }
  let ids: number[]
  try {
    ids = journal.commit(rows, rejects, (group[group.length - 1] as CommitRequest).at).ids
  } catch (err) {
    const reply: WriteReply = { ok: false, message: (err as Error).message }
    for (let i = 0; i < group.length; i++) port?.postMessage(reply)
    return
  }
  tx++
  let from = 0
  for (const req of group) {
    port?.postMessage({ ok: true, ids: ids.slice(from, from + req.count), tx } satisfies WriteReply)
    from += req.count
  }
}

port.on('message', (first: WriteRequest) => {
  // Everything queued behind this message runs now, in order.
  const reqs: WriteRequest[] = [first]
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) reqs.push(m.message as WriteRequest)
  let group: CommitRequest[] = []
  for (const req of reqs) {
    if (req.op === 'commit') {
      group.push(req)
      continue
    }
    if (group.length > 0) commitGroup(group)
    group = []
    if (req.op === 'close') {
      journal.close()
      port.close()
      return
    }
    let reply: WriteReply
    try {
      performCheckpoint(journal, req.cursor, req.snapshots, req.prune)
      reply = { ok: true, ids: [], tx }
    } catch (err) {
      reply = { ok: false, message: (err as Error).message }
    }
    port.postMessage(reply)
  }
  if (group.length > 0) commitGroup(group)
})

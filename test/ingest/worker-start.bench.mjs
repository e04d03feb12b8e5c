// What one worker thread costs to start, built (dist/, plain Node) against from source (tsx
// registered in the worker, as before issue 16): ms until its body (ingest/index with its imports)
// has loaded, and the process RSS it adds. Run after `npm run build`:
//   node test/ingest/worker-start.bench.mjs [workers]
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'

const root = join(import.meta.dirname, '..', '..')
const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href
const bodies = {
  built: `import(${JSON.stringify(pathToFileURL(join(root, 'dist/ingest/index.js')).href)})`,
  source: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(join(root, 'ingest/index.ts')).href)}) })`,
}
const n = Number(process.argv[2] ?? 4)

async function start(body) {
  const t = performance.now()
  const w = new Worker(`${body}.then(() => require('node:worker_threads').parentPort.postMessage('loaded'))`, { eval: true })
  await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  return { ms: performance.now() - t, w }
}

for (const mode of ['built', 'source', 'built', 'source']) {
  const rss0 = process.memoryUsage().rss
  const started = []
  for (let i = 0; i < n; i++) started.push(await start(bodies[mode]))
  const rss1 = process.memoryUsage().rss
  const ms = started.map((s) => s.ms).sort((a, b) => a - b)
  console.log(`${mode}: ${n} workers, median start ${ms[Math.floor(n / 2)].toFixed(0)} ms, RSS +${((rss1 - rss0) / n / 2 ** 20).toFixed(0)} MiB per worker`)
  await Promise.all(started.map((s) => s.w.terminate()))
}

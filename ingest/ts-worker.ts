/**
 * Starts a worker thread whose body is a TypeScript module of this repository. Worker threads do
 * not inherit tsx's `--import` hook on Node 20, so the worker registers it before importing.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href

export function startTsWorker(body: URL, workerData: unknown): Worker {
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(body.href)}) })`
  return new Worker(boot, { eval: true, workerData })
}

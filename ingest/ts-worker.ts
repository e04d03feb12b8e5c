/**
 * Starts a worker thread whose body is a module of this repository. Run as built (`dist/`, what
 * `npm ci` compiles and `bin/forewarn.js` starts) the body is plain JavaScript and the worker loads
 * no TypeScript loader. Run from source (vitest, `npx tsx`) the body is TypeScript: worker threads
 * do not inherit tsx's `--import` hook on Node 20, so the worker registers it before importing.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

/** A module beside `from` (an `import.meta.url`), with the extension `from` has: `.js` built, `.ts` from source. */
export function sibling(name: string, from: string): URL {
  return new URL(`./${name}${from.endsWith('.js') ? '.js' : '.ts'}`, from)
}

export function startTsWorker(body: URL, workerData: unknown): Worker {
  if (!body.pathname.endsWith('.ts')) return new Worker(body, { workerData })
  // The ESM entry of tsx's API, found from its package root (require.resolve would give the CJS one).
  const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(body.href)}) })`
  return new Worker(boot, { eval: true, workerData })
}

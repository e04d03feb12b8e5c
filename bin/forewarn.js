#!/usr/bin/env node
// The one executable. It runs the JavaScript that `npm ci` compiles into dist/ (the `prepare`
// script; `npm run build` after editing the TypeScript): no TypeScript loader at run time.
try {
  await import('../dist/cli.js')
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('/dist/cli.js')) {
    console.error('forewarn: dist/ is missing; run `npm ci` (or `npm run build`) first')
    process.exit(1)
  }
  throw err
}

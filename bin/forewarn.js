#!/usr/bin/env node
// The one executable. TypeScript runs directly through tsx's loader, so `npm ci` is the whole build.
import { register } from 'tsx/esm/api'

register()
await import('../cli.ts')

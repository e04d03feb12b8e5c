/** Regenerates the committed output under dashboards/generated/ (`npx tsx dashboards/generate.ts`). */
import { fileURLToPath } from 'node:url'
import { runDashboards } from './index.ts'

const out = fileURLToPath(new URL('./generated', import.meta.url))
const { files } = await runDashboards({ out })
console.log(`wrote ${files.length} files under ${out}`)

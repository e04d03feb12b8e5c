// The part of `npm run build` tsc does not do: files the compiled code reads at run time that are
// not TypeScript. tsc emits the JSON modules it imports (catalogue/*.json); the console's
// templates, stylesheet and page script are read from beside the code, so they are copied to
// the same place under dist/.
import { cpSync, rmSync } from 'node:fs'

const folders = ['api/console/views', 'api/console/public']

for (const dir of folders) {
  rmSync(`dist/${dir}`, { recursive: true, force: true })
  cpSync(dir, `dist/${dir}`, { recursive: true })
}

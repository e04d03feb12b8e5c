/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`) as the functions with the most self
 * time: where the time goes, for docs/benchmarks.md.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface HotFunction {
  name: string
  where: string
  selfMs: number
  selfPct: number
}

export function topSelfTime(file: string, top = 15): { totalMs: number; functions: HotFunction[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<string, { name: string; where: string; us: number }>()
  let total = 0
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i] as number)
    const dt = p.timeDeltas[i] ?? 0
    if (!n) continue
    total += dt
    const f = n.callFrame
    const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(node_modules|cli|ingest|broker|detectors|api|domain)\//, '$1/')}:${f.lineNumber + 1}` : ''
    const key = `${f.functionName}@${where}`
    const e = self.get(key) ?? { name: f.functionName || '(anonymous)', where, us: 0 }
    e.us += dt
    self.set(key, e)
  }
  const functions = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.us / 1000), selfPct: Math.round((e.us / Math.max(1, total)) * 1000) / 10 }))
  return { totalMs: Math.round(total / 1000), functions }
}

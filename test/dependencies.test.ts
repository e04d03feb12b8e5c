/**
 * Dependencies match what they run on: every package installed (package-lock.json) accepts every
 * Node version our `engines` range admits, so `npm ci` warns of none. cookie is pinned to 1.x by
 * an override (2.x says Node >= 22); light-my-request (fastify's inject) is its one user.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import semver from 'semver'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..')
const ours = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> }

describe('dependencies', () => {
  it('every installed package accepts every Node version in our engines range', () => {
    const refused = Object.entries(lock.packages)
      .filter(([path, m]) => path !== '' && typeof m.engines?.node === 'string' && !semver.subset(ours, m.engines.node))
      .map(([path, m]) => `${path} wants ${m.engines!.node}`)
    expect(refused).toEqual([])
    expect(semver.satisfies(process.version, ours)).toBe(true)
  })

  it('fastify inject still sends cookies with the pinned cookie', async () => {
    const app = Fastify()
    app.get('/', async (req) => ({ cookie: req.headers.cookie }))
    try {
      const res = await app.inject({ url: '/', cookies: { session: 'a b', other: 'x' } })
      expect(res.json()).toEqual({ cookie: 'session=a%20b; other=x' })
    } finally {
      await app.close()
    }
  })
})

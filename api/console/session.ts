/**
 * Console sign-in. A person signs in with an API key (a read key is enough) through a plain HTML
 * form; the key then lives only in the server-side session, and the browser holds an opaque,
 * signed session id in an HttpOnly, SameSite=Strict cookie: page scripts and URLs never see the
 * key. Every request re-checks the key, so revoking it ends every session using it at once;
 * signing out destroys the session. Sessions are kept in this process's memory (@fastify/session's
 * store): a restart signs everyone out.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyFormbody from '@fastify/formbody'
import type { ApiKeyIdentity } from '../store/types.ts'

declare module 'fastify' {
  interface Session {
    apiKey?: string
  }
}

export const SESSION_COOKIE = 'forewarn_session'
const SESSION_MAX_AGE_MS = 12 * 3_600_000

/** Registers cookie, session and form parsing in the (encapsulated) console context only. */
export async function registerSession(app: FastifyInstance): Promise<void> {
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: randomBytes(32).toString('base64url'),
    cookieName: SESSION_COOKIE,
    saveUninitialized: false,
    // Not secure: 'auto', which downgrades SameSite to Lax on plain HTTP; Secure is added below when served over TLS.
    cookie: { httpOnly: true, sameSite: 'strict', secure: false, path: '/', maxAge: SESSION_MAX_AGE_MS },
  })
  app.addHook('onSend', async (req, reply) => {
    if (req.protocol !== 'https') return
    const c = reply.getHeader('set-cookie')
    const secure = (v: string) => (v.startsWith(`${SESSION_COOKIE}=`) && !/;\s*Secure/i.test(v) ? `${v}; Secure` : v)
    if (typeof c === 'string') reply.header('set-cookie', secure(c))
    else if (Array.isArray(c)) reply.header('set-cookie', c.map(secure))
  })
  await app.register(fastifyFormbody, { bodyLimit: 4096 })
}

const mayRead = (id: ApiKeyIdentity) => id.scopes.includes('*') || (id.scopes as readonly string[]).includes('read')

/** The signed-in key's identity, or null (a session whose key was revoked is ended here). */
export async function viewer(app: FastifyInstance, req: FastifyRequest): Promise<ApiKeyIdentity | null> {
  const key = req.session.get('apiKey')
  if (key === undefined) return null
  const id = await app.store.authenticateApiKey(key)
  if (id !== null && mayRead(id)) return id
  await req.session.destroy()
  return null
}

export type SignIn = { ok: true } | { ok: false; message: string }

export async function signIn(app: FastifyInstance, req: FastifyRequest, key: string): Promise<SignIn> {
  const trimmed = key.trim()
  const id = trimmed === '' ? null : await app.store.authenticateApiKey(trimmed)
  if (id === null) return { ok: false, message: 'That API key is not known (or was revoked).' }
  if (!mayRead(id)) return { ok: false, message: 'That API key may not read: ask for a key with the read scope.' }
  // A fresh session id on sign-in: an id planted before cannot ride along (session fixation).
  await req.session.regenerate()
  req.session.set('apiKey', trimmed)
  return { ok: true }
}

export async function signOut(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  await req.session.destroy()
  reply.clearCookie(SESSION_COOKIE, { path: '/' })
}

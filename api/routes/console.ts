/**
 * The service console (issue 15): HTML pages at `/` for people, signed in with an API key held in
 * a server-side session (../console/session.ts). Server-rendered with Eta through @fastify/view,
 * assets through @fastify/static, charts drawn by uPlot in the browser. No build step.
 * Encapsulated: its cookie, session and form parsing apply to these routes only, not to the API.
 */
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyStatic from '@fastify/static'
import fastifyView from '@fastify/view'
import { Eta } from 'eta'
import { applianceSpec, effectiveSla } from '../../domain/index.ts'
import { remainingLifeWords } from '../../domain/words.ts'
import { registerSession, signIn, signOut, viewer } from '../console/session.ts'
import { securityHeaders } from '../console/headers.ts'
import { templateHelpers } from '../console/helpers.ts'
import { createLiveChannel } from '../console/live.ts'
import type { TelemetrySource } from '../console/telemetry.ts'
import {
  applianceName, componentRows, coverageWords, deliveries, deviceTickets, evidenceRows, faultWords, fleetView, metricMeta, payerWords,
  policyWords, recentHistory, allHistory, remedyWords, slaRow, stateWords, warningRow,
} from '../console/views.ts'
import { ticketTimeline } from '../services/timeline.ts'
import { statusPageRoutes } from './status-page.ts'

export interface ConsoleOptions {
  /** Recent telemetry for the charts; without one the appliance page says there is none. */
  telemetry?: TelemetrySource | undefined
  /** How often the live channel looks for changes. */
  liveIntervalMs?: number
}

const here = dirname(fileURLToPath(import.meta.url))
const consoleDir = join(here, '..', 'console')
const uplotDist = join(dirname(createRequire(import.meta.url).resolve('uplot')), '.')

const HISTORY_SHOWN = 40
/** Pages for people, not API operations: left out of the OpenAPI document. */
const hidden = { hide: true }

export async function registerViews(app: FastifyInstance): Promise<void> {
  const views = join(consoleDir, 'views')
  await app.register(fastifyView, { engine: { eta: new Eta({ views, cache: true }) }, templates: views, defaultContext: templateHelpers })
  await app.register(fastifyStatic, { root: join(consoleDir, 'public'), prefix: '/console/assets/', decorateReply: false, index: false, schemaHide: true })
  await app.register(fastifyStatic, { root: uplotDist, prefix: '/console/assets/uplot/', decorateReply: false, index: false, schemaHide: true, allowedPath: (p) => /^\/uPlot\.(iife\.min\.js|min\.css)$/.test(p) })
}

export async function consoleRoutes(app: FastifyInstance, opts: ConsoleOptions): Promise<void> {
  const store = app.store
  await registerSession(app)
  await registerViews(app)
  const live = createLiveChannel(async () => (await fleetView(store, Date.now())).fingerprint, opts.liveIntervalMs ?? 3000)
  // Before the server waits for its connections to end: open event streams would keep it waiting.
  app.addHook('preClose', async () => live.close())
  statusPageRoutes(app)

  const page = (reply: FastifyReply, name: string, data: Record<string, unknown>, code = 200) =>
    securityHeaders(reply).code(code).type('text/html; charset=utf-8').view(name, { signedIn: true, ...data })

  /** Pages need a signed-in reader: anyone else is sent to sign in (HTML) or told 401 (data). */
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (await viewer(app, req) !== null) return
    if (req.headers.accept?.includes('text/html') === true) return reply.code(303).header('location', '/').send()
    return reply.code(401).send({ error: { code: 'FOREWARN_ERR_NOT_AUTHORIZED', message: 'sign in to the console first' } })
  }

  app.get('/', { schema: hidden }, async (req, reply) => {
    if (await viewer(app, req) === null) return page(reply, 'signin', { signedIn: false, title: 'Sign in', message: null })
    return page(reply, 'fleet', { title: 'Fleet', fleet: await fleetView(store, Date.now()) })
  })

  app.post<{ Body: { key?: string } }>('/sign-in', { schema: hidden }, async (req, reply) => {
    const result = await signIn(app, req, typeof req.body?.key === 'string' ? req.body.key : '')
    if (!result.ok) return page(reply, 'signin', { signedIn: false, title: 'Sign in', message: result.message }, 401)
    return reply.code(303).header('location', '/').send()
  })

  app.post('/sign-out', { schema: hidden }, async (req, reply) => {
    await signOut(req, reply)
    return reply.code(303).header('location', '/').send()
  })

  app.get('/console/fleet', { preHandler: guard, schema: hidden }, async (_req, reply) =>
    securityHeaders(reply).type('text/html; charset=utf-8').view('fleet-body', { fleet: await fleetView(store, Date.now()) }))

  app.get('/console/events', { preHandler: guard, schema: hidden }, async (_req, reply) => {
    live.attach(reply)
  })

  app.get<{ Params: { id: string } }>('/console/appliances/:id', { preHandler: guard, schema: hidden }, async (req, reply) => {
    const rec = await store.getHealthRecord(req.params.id)
    if (rec === null) return page(reply, 'notfound', { title: 'Not found', what: 'appliance' }, 404)
    const type = rec.device.type
    const [tickets, history, verify] = await Promise.all([
      deviceTickets(store, rec.device.id), recentHistory(store, rec.device.id, HISTORY_SHOWN), store.verifyHistory(rec.device.id),
    ])
    const warnings = [...rec.activeWarnings, ...rec.recentWarnings].map((w) => ({ ...warningRow(w, rec.device), state: w.state, message: w.message, rul: w.rul }))
    return page(reply, 'appliance', {
      title: `${applianceName(type)} ${rec.device.model}`, rec, typeName: applianceName(type),
      components: rec.health === null ? [] : componentRows(type, rec.health.components),
      warnings, metrics: metricMeta(type), tickets: tickets.map((t) => ({ ...t, sla: slaRow(t, Date.now()), stateText: stateWords[t.state] })),
      history, verify, historyShown: HISTORY_SHOWN,
      life: rec.activeWarnings.filter((w) => w.rul !== null).map((w) => ({ fault: faultWords(type, w).name, text: remainingLifeWords(w.rul!), rul: w.rul! })),
    })
  })

  app.get<{ Params: { id: string } }>('/console/appliances/:id/telemetry', { preHandler: guard, schema: hidden }, async (req, reply) => {
    const rec = await store.getHealthRecord(req.params.id)
    if (rec === null) return reply.code(404).send({ error: { code: 'FOREWARN_ERR_NOT_FOUND', message: `no device ${req.params.id}` } })
    const type = rec.device.type
    const series = opts.telemetry === undefined ? null : await opts.telemetry.recent(rec.device.id, type)
    const warnings = [...rec.activeWarnings, ...rec.recentWarnings].map((w) => ({
      at: w.eventTime, label: faultWords(type, w).name, severity: w.severity, state: w.state,
    }))
    reply.header('cache-control', 'no-store')
    return { metrics: metricMeta(type), series, warnings }
  })

  app.get<{ Params: { id: string } }>('/console/tickets/:id', { preHandler: guard, schema: hidden }, async (req, reply) => {
    const t = await store.getTicket(req.params.id)
    if (t === null) return page(reply, 'notfound', { title: 'Not found', what: 'ticket' }, 404)
    const [entries, delivery, token] = await Promise.all([allHistory(store, t.deviceId), deliveries(store, t.id), store.statusToken(t.id)])
    const now = Date.now()
    const timeline = ticketTimeline(t, entries, now)
    const effective = effectiveSla(t, now)
    const onSite = effective.policy === 'predicted' ? 'Technician visit' : 'Technician on site'
    const promises = ([['Confirm', 'confirm'], ['Plan the visit', 'plan'], [onSite, 'respond'], ['Repair done', 'close']] as const)
      .map(([label, key]) => ({ label, ...timeline.sla[key] }))
    return page(reply, 'ticket', {
      title: `Ticket ${t.id}`, t, typeName: applianceName(t.appliance.type), timeline, promises, sla: slaRow(t, now),
      effective, policyText: policyWords(effective.policy, effective.escalated, t.priority),
      stateText: stateWords[t.state], payer: payerWords[t.warranty.payer], coverage: coverageWords[t.warranty.coverage], remedy: remedyWords[t.warranty.remedy],
      evidence: evidenceRows(t.appliance.type, t.evidence), life: t.rul === null ? null : remainingLifeWords(t.rul), delivery,
      statusPath: `/status/${token}`, componentName: applianceSpec(t.appliance.type).components.find((c) => c.id === t.fault.component)?.name ?? t.fault.component,
    })
  })
}

import { describe, expect, it } from 'vitest'
import { cond, ident, InfluxQLQueryBuilder, literal, select, selectFrom } from '../../dashboards/influxql.ts'
import { interpolate } from './grafana-macros.ts'

describe('InfluxQL builder', () => {
  it('quotes identifiers and string literals, escaping embedded quotes', () => {
    expect(ident('a"b')).toBe('"a\\"b"')
    expect(literal("it's")).toBe("'it\\'s'")
    expect(literal('$device')).toBe("'$device'")
  })

  it('writes SELECT … WHERE … $timeFilter GROUP BY time, tags fill', () => {
    const q = select('health').agg('mean', 'score').where(cond.eq('component', 'overall'), cond.matchesVar('type', 'type')).groupByTime().groupBy('model').fill('none')
    expect(q.build()).toBe(`SELECT mean("score") FROM "health" WHERE "component" = 'overall' AND "type" =~ /^$type$/ AND $timeFilter GROUP BY time($__interval), "model" fill(none)`)
  })

  it('nests a subquery, both bounded by the time filter', () => {
    const inner = select('health').agg('last', 'status', 'status').groupBy('device_id')
    expect(selectFrom('health', inner).agg('count', 'status').where(cond.eq('status', 'healthy')).build()).toBe(
      `SELECT count("status") FROM (SELECT last("status") AS "status" FROM "health" WHERE $timeFilter GROUP BY "device_id") WHERE "status" = 'healthy' AND $timeFilter`,
    )
  })

  it('escapes regex metacharacters in fixed alternatives', () => {
    expect(cond.oneOf('model', ['AC-12K Inverter', 'a.b']).sql).toBe('"model" =~ /^(AC-12K Inverter|a\\.b)$/')
  })

  it('orders newest first with a limit', () => {
    expect(select('tickets').column('ticket_id').column('event').newestFirst().limit(5).build()).toBe(`SELECT "ticket_id", "event" FROM "tickets" WHERE $timeFilter ORDER BY time DESC LIMIT 5`)
  })

  it('builds the target Grafana stores for InfluxQL raw mode, and annotation targets', () => {
    const t = new InfluxQLQueryBuilder().refId('B').datasource({ type: 'influxdb', uid: 'x' }).query(select('pipeline').agg('sum', 'accepted')).alias('$tag_stage').build()
    expect(JSON.parse(JSON.stringify(t))).toEqual({ refId: 'B', query: 'SELECT sum("accepted") FROM "pipeline" WHERE $timeFilter', rawQuery: true, resultFormat: 'time_series', datasource: { type: 'influxdb', uid: 'x' }, alias: '$tag_stage' })
    const a = new InfluxQLQueryBuilder().query('SELECT 1').annotation({ text: 'message', tags: ['fault_code', 'event'] }).build()
    expect(a).toMatchObject({ fromAnnotations: true, textEditor: true, textColumn: 'message', tagsColumn: 'fault_code,event' })
  })
})

describe('Grafana macro interpolation (test helper)', () => {
  const ctx = { fromMs: 1_000_000, toMs: 1_000_000 + 6 * 3_600_000, variables: { device: 'ref-1', model: { multi: ['FR-300', 'FR-600 Duo'] }, all: { all: '.*' } } }
  it('substitutes the time filter and a nice interval as Grafana does', () => {
    expect(interpolate('WHERE $timeFilter GROUP BY time($__interval) LIMIT $__interval_ms', ctx)).toBe(`WHERE time >= 1000000ms and time <= 22600000ms GROUP BY time(20s) LIMIT 20000`)
  })
  it('inserts single values raw, multi values as an escaped regex group, All as its allValue', () => {
    expect(interpolate(`'$device' /^$model$/ /^$all$/`, ctx)).toBe(`'ref-1' /^(FR-300|FR-600 Duo)$/ /^.*$/`)
  })
  it('refuses an unknown variable', () => {
    expect(() => interpolate('$nope', ctx)).toThrow(/\$nope/)
  })
})

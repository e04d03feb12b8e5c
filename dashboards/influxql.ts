/**
 * A small typed InfluxQL query builder in the style of the Grafana Foundation SDK builders (which
 * ship none for InfluxDB): `SelectBuilder` writes the statement, `InfluxQLQueryBuilder` wraps it
 * into the target Grafana's InfluxDB data source stores (`rawQuery: true`, InfluxQL mode).
 * Every panel and annotation goes through it, so quoting and the time filter are right everywhere.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog'
import type * as common from '@grafana/grafana-foundation-sdk/common'
import { measurements, tagKeys } from '../domain/index.ts'

export type Measurement = (typeof measurements)[keyof typeof measurements]
export type TagKey = (typeof tagKeys)[keyof typeof tagKeys]

/** Field names per measurement (domain/influx-schema.ts); telemetry has one field per catalogue metric. */
export interface MeasurementFields {
  telemetry: string
  health: 'score' | 'status' | 'rul_hours_median' | 'rul_hours_low' | 'rul_hours_high'
  warnings: 'episode_id' | 'message' | 'rul_hours_median'
  tickets: 'ticket_id' | 'state' | 'sla_state'
  pipeline: 'accepted' | 'rejected' | 'lag_ms' | 'batch_points' | 'write_ms' | 'spool_bytes' | 'retries'
}
export type FieldOf<M extends Measurement> = MeasurementFields[M]

export type Aggregate = 'mean' | 'max' | 'min' | 'last' | 'first' | 'sum' | 'count' | 'median'
export type Fill = 'none' | 'null' | 'previous' | 'linear' | number
export type ResultFormat = 'time_series' | 'table' | 'logs'

/** The target JSON of Grafana's InfluxDB data source in InfluxQL raw mode. */
export interface InfluxQLQuery extends cog.Dataquery {
  refId: string
  datasource?: common.DataSourceRef
  query: string
  rawQuery: true
  resultFormat: ResultFormat
  alias?: string
  hide?: boolean
  /** Set on annotation targets: which result columns become the annotation's text and tags. */
  fromAnnotations?: true
  textEditor?: true
  textColumn?: string
  tagsColumn?: string
}

export const defaultInfluxQLQuery = (): InfluxQLQuery => ({
  refId: 'A',
  query: '',
  rawQuery: true,
  resultFormat: 'time_series',
  _implementsDataqueryVariant: () => {},
})

/** `"name"` with embedded quotes escaped (InfluxQL identifier quoting). */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** `'value'` with embedded quotes escaped (InfluxQL string literal). Grafana variables pass through. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** A WHERE condition, already rendered; build them with the helpers below. */
export interface Condition {
  readonly sql: string
}

export const cond = {
  /** Tag (or string field) equals a value or a single-value variable (`'$device'`). */
  eq: (key: string, value: string): Condition => ({ sql: `${ident(key)} = ${literal(value)}` }),
  ne: (key: string, value: string): Condition => ({ sql: `${ident(key)} != ${literal(value)}` }),
  /** Tag matches a multi-value / All variable: Grafana renders those as a regex group. */
  matchesVar: (key: string, variable: string): Condition => ({ sql: `${ident(key)} =~ /^$${variable}$/` }),
  /** Tag matches one of fixed values (anchored, regex-escaped). */
  oneOf: (key: string, values: readonly string[]): Condition => ({
    sql: `${ident(key)} =~ /^(${values.map((v) => v.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$/`,
  }),
} as const

interface Column {
  expr: string
  as: string | undefined
}

export class SelectBuilder<M extends Measurement> implements cog.Builder<string> {
  private readonly from: string
  private readonly columns: Column[] = []
  private readonly conditions: Condition[] = []
  private readonly groupTags: string[] = []
  private timeGroup: string | undefined
  private fillMode: Fill | undefined
  private timeFiltered = true
  private descending = false
  private limitRows: number | undefined

  /** From a measurement, or from a subquery (whose columns then read as fields of `M`). */
  constructor(source: M | { measurement: M; subquery: SelectBuilder<Measurement> }) {
    this.from = typeof source === 'string' ? ident(source) : `(${source.subquery.build()})`
  }

  /** Aggregate or selector over a field: `mean("score") AS "score"`. */
  agg(fn: Aggregate, field: FieldOf<M>, as?: string): this {
    this.columns.push({ expr: `${fn}(${ident(field)})`, as })
    return this
  }

  /** A raw field or tag column (with a selector: the tag of the selected point). */
  column(name: FieldOf<M> | TagKey, as?: string): this {
    this.columns.push({ expr: ident(name), as })
    return this
  }

  /** An expression over aggregates, e.g. `sum("accepted") * 1000 / $__interval_ms`. */
  expr(expression: string, as: string): this {
    this.columns.push({ expr: expression, as })
    return this
  }

  where(...conditions: Condition[]): this {
    this.conditions.push(...conditions)
    return this
  }

  /** Subqueries are usually bounded by the outer filter instead. */
  withoutTimeFilter(): this {
    this.timeFiltered = false
    return this
  }

  groupByTime(interval = '$__interval'): this {
    this.timeGroup = interval
    return this
  }

  groupBy(...tags: TagKey[]): this {
    this.groupTags.push(...tags)
    return this
  }

  fill(mode: Fill): this {
    this.fillMode = mode
    return this
  }

  newestFirst(): this {
    this.descending = true
    return this
  }

  limit(rows: number): this {
    this.limitRows = rows
    return this
  }

  build(): string {
    const cols = this.columns.map((c) => (c.as === undefined ? c.expr : `${c.expr} AS ${ident(c.as)}`)).join(', ')
    const where = this.conditions.map((c) => c.sql)
    if (this.timeFiltered) where.push('$timeFilter')
    const groups = [...(this.timeGroup === undefined ? [] : [`time(${this.timeGroup})`]), ...this.groupTags.map(ident)]
    let q = `SELECT ${cols} FROM ${this.from}`
    if (where.length > 0) q += ` WHERE ${where.join(' AND ')}`
    if (groups.length > 0) q += ` GROUP BY ${groups.join(', ')}`
    if (this.fillMode !== undefined) q += ` fill(${this.fillMode})`
    if (this.descending) q += ' ORDER BY time DESC'
    if (this.limitRows !== undefined) q += ` LIMIT ${this.limitRows}`
    return q
  }
}

export function select<M extends Measurement>(measurement: M): SelectBuilder<M> {
  return new SelectBuilder(measurement)
}

/** Outer query over a subquery; both carry the time filter, so neither scans beyond the range. */
export function selectFrom<M extends Measurement>(measurement: M, subquery: SelectBuilder<M>): SelectBuilder<M> {
  return new SelectBuilder<M>({ measurement, subquery: subquery as unknown as SelectBuilder<Measurement> })
}

export class InfluxQLQueryBuilder implements cog.Builder<cog.Dataquery> {
  protected readonly internal: InfluxQLQuery

  constructor() {
    this.internal = defaultInfluxQLQuery()
  }

  build(): InfluxQLQuery {
    return this.internal
  }

  refId(refId: string): this {
    this.internal.refId = refId
    return this
  }

  datasource(datasource: common.DataSourceRef): this {
    this.internal.datasource = datasource
    return this
  }

  query(statement: cog.Builder<string> | string): this {
    this.internal.query = typeof statement === 'string' ? statement : statement.build()
    return this
  }

  resultFormat(format: ResultFormat): this {
    this.internal.resultFormat = format
    return this
  }

  /** Legend name; `$tag_<key>` and `$col` are expanded by Grafana. */
  alias(alias: string): this {
    this.internal.alias = alias
    return this
  }

  /** Makes this an annotation target (Grafana's InfluxQL annotation editor stores the same shape). */
  annotation(columns: { text: string; tags: readonly string[] }): this {
    this.internal.fromAnnotations = true
    this.internal.textEditor = true
    this.internal.textColumn = columns.text
    this.internal.tagsColumn = columns.tags.join(',')
    return this
  }

  hide(hide: boolean): this {
    this.internal.hide = hide
    return this
  }
}

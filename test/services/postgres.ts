/**
 * The PostgreSQL the tests start: servers/postgres.ts with fsync off (tests measure no disk
 * writes). Suites that need it gate on `describeService('postgres', …)`: under CI=true a missing
 * server fails them.
 */
import { startPostgres as start, type PostgresServer } from '../../servers/postgres.ts'

export type PostgresService = PostgresServer

export function startPostgres(): Promise<PostgresService> {
  return start({ fsync: false })
}

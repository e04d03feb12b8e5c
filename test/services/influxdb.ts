/**
 * InfluxDB 1.6 for the tests: servers/influxdb.ts, unchanged. Suites that need it gate on
 * `describeService('influxdb', …)`: under CI=true a missing server fails them.
 */
export { startInfluxDB, type InfluxDBService, type InfluxRow } from '../../servers/influxdb.ts'

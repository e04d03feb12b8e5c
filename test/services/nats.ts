/**
 * The three-node NATS JetStream cluster the tests start: servers/nats.ts, unchanged. Suites that
 * need it gate on `describeService('nats', …)`: under CI=true a missing nats-server fails them.
 */
export { NATS_SERVER, startNatsCluster, type NatsCluster as NatsClusterService, type NatsNode } from '../../servers/nats.ts'

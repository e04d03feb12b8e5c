/**
 * Mosquitto as an external MQTT broker for the tests: servers/mosquitto.ts, unchanged. Suites that
 * need it gate on `describeService('mosquitto', …)`: under CI=true a missing broker fails them.
 */
export { DYNSEC_PLUGIN, startMosquitto, type MosquittoService } from '../../servers/mosquitto.ts'

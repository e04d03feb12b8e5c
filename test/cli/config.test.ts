/** Start-up configuration: flags over environment, clear errors naming the setting. */
import { describe, expect, it } from 'vitest'
import { apiUsesTls, isLoopback, loadStartConfig } from '../../cli/config.ts'

describe('start configuration', () => {
  it('takes flags over environment variables, and defaults for the rest', () => {
    const c = loadStartConfig({ mqttPort: '2000', dataDir: '/tmp/x' }, { FOREWARN_MQTT_PORT: '1000', FOREWARN_API_PORT: '4000' })
    expect([c.mqttPort, c.apiPort, c.dataDir, c.host, c.simulate, c.profile, c.tlsPort, c.brokerUrl]).toEqual([2000, 4000, '/tmp/x', '127.0.0.1', 0, 'demo', null, null])
    expect(loadStartConfig({ simulate: true }, {}).simulate).toBe(12)
  })

  it('refuses bad values with the name of the setting', () => {
    expect(() => loadStartConfig({ mqttPort: 'abc' }, {})).toThrow('--mqtt-port must be a whole number, got "abc"')
    expect(() => loadStartConfig({ apiPort: 70000 }, {})).toThrow(/FOREWARN_ERR|apiPort/)
    expect(() => loadStartConfig({ broker: 'http://x' }, {})).toThrow(/brokerUrl/)
    expect(() => loadStartConfig({ profile: 'staging' }, {})).toThrow(/profile/)
  })

  it('cluster: --cluster and --roles from flags or environment, all roles by default, nothing without --cluster', () => {
    const none = loadStartConfig({}, {})
    expect([none.cluster, none.roles]).toEqual([null, ['edge', 'worker', 'api']])
    const c = loadStartConfig({ cluster: 'nats://h1:4222, nats://h2:4222' }, { FOREWARN_ROLES: 'edge,worker' })
    expect([c.cluster, c.roles]).toEqual([['nats://h1:4222', 'nats://h2:4222'], ['edge', 'worker']])
    expect(loadStartConfig({}, { FOREWARN_CLUSTER: 'nats://h1:4222' }).cluster).toEqual(['nats://h1:4222'])
    expect(() => loadStartConfig({ roles: 'edge' }, {})).toThrow('--roles (FOREWARN_ROLES) needs --cluster')
    expect(() => loadStartConfig({ cluster: 'http://h1' }, {})).toThrow(/cluster/)
    expect(() => loadStartConfig({ cluster: 'nats://h1:4222', roles: 'edge,cook' }, {})).toThrow(/roles/)
    // The simulated fleet provisions through the API and connects to the broker of this process.
    expect(() => loadStartConfig({ cluster: 'nats://h1:4222', roles: 'worker', simulate: '3' }, {})).toThrow(/--simulate .* needs the roles edge and api/)
    expect(loadStartConfig({ cluster: 'nats://h1:4222', roles: 'edge,api', simulate: '3' }, {}).simulate).toBe(3)
    expect(() => loadStartConfig({ cluster: 'nats://h1:4222', broker: 'mqtt://b:1883' }, {})).toThrow('--broker (an external MQTT broker) is not supported')
  })

  it('needs certificate, key and port together, and TLS in the production profile', () => {
    expect(() => loadStartConfig({ tlsPort: 8883 }, {})).toThrow('MQTT over TLS needs all of --tls-port, --cert and --key')
    expect(() => loadStartConfig({ profile: 'production' }, {})).toThrow('the production profile serves devices over TLS only')
    const c = loadStartConfig({ profile: 'production', tlsPort: 8883, cert: 'c.pem', key: 'k.pem' }, {})
    expect([c.profile, c.tlsPort, c.tlsCertFile, c.tlsKeyFile]).toEqual(['production', 8883, 'c.pem', 'k.pem'])
    // With an external broker, TLS to devices is that broker's business.
    expect(loadStartConfig({ profile: 'production', broker: 'mqtts://broker:8883' }, {}).profile).toBe('production')
  })

  it('production profile: the API is served over TLS with the same certificate, or binds loopback only', () => {
    const withCert = loadStartConfig({ profile: 'production', host: '0.0.0.0', tlsPort: 8883, cert: 'c.pem', key: 'k.pem' }, {})
    expect(apiUsesTls(withCert)).toBe(true)
    // External broker: --cert and --key alone are the API's.
    const apiOnly = loadStartConfig({ profile: 'production', host: '0.0.0.0', broker: 'mqtts://broker:8883', cert: 'c.pem', key: 'k.pem' }, {})
    expect(apiUsesTls(apiOnly)).toBe(true)
    expect(() => loadStartConfig({ profile: 'production', host: '0.0.0.0', broker: 'mqtts://broker:8883' }, {}))
      .toThrow('the production profile serves the API over TLS on a non-loopback address: give --cert and --key')
    expect(() => loadStartConfig({ profile: 'production', host: '192.0.2.10', broker: 'mqtts://b:8883' }, { FOREWARN_TLS_CERT: 'c.pem' }))
      .toThrow(expect.objectContaining({ code: 'FOREWARN_ERR_CONFIG' }))
    const loopback = loadStartConfig({ profile: 'production', host: '127.0.0.1', broker: 'mqtts://broker:8883' }, {})
    expect(apiUsesTls(loopback)).toBe(false)
    expect(apiUsesTls(loadStartConfig({ host: '0.0.0.0' }, {}))).toBe(false)
    expect([isLoopback('127.0.0.1'), isLoopback('127.0.0.2'), isLoopback('::1'), isLoopback('localhost'), isLoopback('0.0.0.0'), isLoopback('::'), isLoopback('10.0.0.1')])
      .toEqual([true, true, true, true, false, false, false])
  })
})

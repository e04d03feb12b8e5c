/**
 * `forewarn`: the one executable. Each subcommand loads its implementation lazily, so `--help`
 * is instant and one command's dependencies never slow another.
 */
import { Command, InvalidArgumentError } from 'commander'
import { ForewarnError } from './domain/index.ts'

function intArg(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`)
    return n
  }
}

/** `--json` contract: exactly one compact JSON object on the last line of stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const program = new Command()
  .name('forewarn')
  .description('Proactive after-sales service for connected home appliances')
  .showHelpAfterError()

program
  .command('start')
  .description('run broker, ingest, detector, API and embedded database (optionally with a simulated fleet)')
  .option('--simulate [n]', 'run N simulated appliances in fast simulated time (0: no fleet)')
  .option('--mqtt-port <port>', 'MQTT listener port of the embedded broker (env FOREWARN_MQTT_PORT, default 1883)')
  .option('--api-port <port>', 'HTTP API port (env FOREWARN_API_PORT, default 3000)')
  .option('--data-dir <dir>', 'where the embedded database and journals live (env FOREWARN_DATA_DIR, default ./data)')
  .option('--host <host>', 'address to listen on (env FOREWARN_HOST, default 127.0.0.1)')
  .option('--broker <url>', 'use an external MQTT broker instead of the embedded one (env FOREWARN_BROKER_URL)')
  .option('--seed <n>', 'seed of the simulated fleet')
  .option('--profile <p>', 'demo (plain MQTT and HTTP on --host) or production (MQTT over TLS and HTTPS API on --host, plain MQTT on 127.0.0.1 only) (env FOREWARN_PROFILE)')
  .option('--tls-port <port>', 'MQTT over TLS port (env FOREWARN_MQTT_TLS_PORT)')
  .option('--cert <file>', 'TLS certificate, PEM, for MQTT over TLS and the production profile\'s HTTPS API (env FOREWARN_TLS_CERT)')
  .option('--key <file>', 'TLS private key, PEM (env FOREWARN_TLS_KEY)')
  .option('--ws-port <port>', 'MQTT over WebSocket port (env FOREWARN_MQTT_WS_PORT)')
  .option('--influx-url <url>', 'InfluxDB base URL; unset: no telemetry store (env INFLUX_URL)')
  .option('--influx-api <v>', 'v2 (InfluxDB 2.x, 3.x, Cloud; default) or v1 (InfluxDB 1.x) (env INFLUX_API)')
  .option('--influx-org <org>', 'v2 organisation (env INFLUX_ORG)')
  .option('--influx-bucket <bucket>', 'v2 bucket (env INFLUX_BUCKET)')
  .option('--influx-database <db>', 'v1 database (env INFLUX_DATABASE)')
  .option('--influx-username <user>', 'v1 user (env INFLUX_USERNAME); pass secrets (INFLUX_TOKEN, INFLUX_PASSWORD) by environment, not flags')
  .option('--catalogue <dir>', 'machine types from DIR/*.json, added to the shipped ones (same type: replaces it) (env FOREWARN_CATALOGUE_DIR)')
  .option('--cluster <urls>', 'scale out over a NATS JetStream cluster: comma-separated nats:// URLs; records in PostgreSQL (DATABASE_URL) (env FOREWARN_CLUSTER; docs/scaling.md)')
  .option('--roles <roles>', 'with --cluster: what this process runs, of edge,worker,api (env FOREWARN_ROLES, default all three)')
  .action(async (opts) => {
    const { runStart } = await import('./cli/start.ts')
    await runStart(opts, process.env)
  })

program
  .command('broker')
  .description('run the embedded MQTT broker alone')
  .option('--port <port>', 'MQTT port', intArg('--port'), 1883)
  .option('--ws-port <port>', 'MQTT over WebSocket port', intArg('--ws-port'))
  .option('--tls-port <port>', 'MQTT over TLS port', intArg('--tls-port'))
  .option('--cert <file>', 'TLS certificate (PEM)')
  .option('--key <file>', 'TLS private key (PEM)')
  .option('--allow-anonymous', 'accept clients without credentials (conformance testing only)', false)
  .option('--deny-subscribe <filter...>', 'with --allow-anonymous: topic filters anonymous clients may not subscribe to (SUBACK 0x80)')
  .action(async (opts) => {
    const { runBroker } = await import('./cli/broker.ts')
    await runBroker(opts)
  })

program
  .command('simulate')
  .description('provision a simulated fleet through the API and publish its telemetry over MQTT')
  .requiredOption('--broker <url>', 'MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
  .requiredOption('--api <url>', 'Forewarn API URL, e.g. http://127.0.0.1:3000')
  .requiredOption('--api-key <key>', 'API key with the devices:admin scope')
  .requiredOption('--devices <n>', 'number of appliances', intArg('--devices', 1))
  .option('--gateways <g>', 'gateway mode: provision G gateways, put the appliances behind them round-robin, one MQTT connection per gateway', intArg('--gateways', 1))
  .option('--readings <r>', 'readings per device (default: run until stopped)', intArg('--readings', 1))
  .option('--interval-ms <ms>', 'wall-clock milliseconds between two readings of a device', intArg('--interval-ms', 0), 1000)
  .option('--seed <n>', 'fleet seed', intArg('--seed'), 1)
  .option('--json', 'print the summary as one JSON object on the last line of stdout', false)
  .action(async (opts) => {
    const { runSimulate } = await import('./cli/simulate.ts')
    await runSimulate(opts)
  })

program
  .command('evaluate')
  .description('run a simulated fleet offline through the real detector and print the scorecard')
  .option('--devices <n>', 'number of appliances', intArg('--devices', 1), 200)
  .option('--days <d>', 'days of simulated time', intArg('--days', 1), 60)
  .option('--seed <s>', 'fleet seed', intArg('--seed'), 1)
  .option('--detector <d>', 'appliance (the built-in appliance detector) or engine (the generic engine on raw metrics, for comparison)', 'appliance')
  .option('--json', 'print the scorecard as one JSON object on the last line of stdout', false)
  .action(async (opts) => {
    if (opts.detector !== 'appliance' && opts.detector !== 'engine') throw new InvalidArgumentError('--detector must be appliance or engine')
    const { runEvaluateCommand } = await import('./cli/evaluate-command.ts')
    await runEvaluateCommand(opts)
  })

program
  .command('replay')
  .description('feed a table of real telemetry (CSV, ;, tab or space separated) through the detection engine')
  .argument('<file>', 'table with a header row')
  .option('--timestamp-column <c>', 'timestamp column', 'timestamp')
  .option('--device-column <d>', 'column that names the machine (several machines in one file)')
  .option('--format <f>', 'jsonl (warnings as JSON lines), nab (timestamp,value,anomaly_score) or scores (timestamp,device,anomaly_score,remaining_life_h,…)', 'jsonl')
  .option('--reference <file>', 'normal operation of the same kind of machine, learnt before FILE is replayed')
  .option('--history <file>', 'machines run to failure (each device\'s last row is its failure): remaining life from their history')
  .action(async (file: string, opts) => {
    if (!['jsonl', 'nab', 'scores'].includes(opts.format)) throw new InvalidArgumentError('--format must be jsonl, nab or scores')
    const { runReplay } = await import('./cli/replay.ts')
    await runReplay({ file, timestampColumn: opts.timestampColumn, deviceColumn: opts.deviceColumn, format: opts.format, reference: opts.reference, history: opts.history }, process.stdout)
  })

program
  .command('score-real')
  .description('the detection scorecard on real machine data (SKAB, C-MAPSS) through replay --format scores (docs/detection.md)')
  .option('--data <dir>', 'folder holding skab/ and cmapss-fd001/', '../shared/data')
  .option('--held-out', 'also choose the engine\'s constants on half of the runs and engines and report the other half, then the reverse (docs/detection.md)', false)
  .option('--json', 'print the figures as one JSON object on the last line of stdout', false)
  .action(async (opts) => {
    const { scoreReal, formatRealScore, scoreHeldOut, formatHeldOut } = await import('./cli/score-real.ts')
    const score = await scoreReal(opts.data)
    process.stdout.write(`${formatRealScore(score)}\n`)
    const heldOut = opts.heldOut ? await scoreHeldOut(opts.data) : undefined
    if (heldOut) process.stdout.write(`${formatHeldOut(heldOut)}\n`)
    if (opts.json) process.stdout.write(`${JSON.stringify(heldOut ? { ...score, heldOut } : score)}\n`)
  })

program
  .command('score-nab')
  .description('the Numenta Anomaly Benchmark score (standard profile, fixed threshold) of replay --format nab on a NAB-layout folder (docs/detection.md)')
  .requiredOption('--data <dir>', 'folder holding data/**/*.csv and labels/combined_windows.json; only the files present count')
  .option('--threshold <t>', 'anomaly_score at or above which a row is a detection', '0.5')
  .option('--results <dir>', 'score NAB results tables found at the same relative paths here instead of running replay')
  .option('--held-out', 'also score each file with the single-metric setting chosen on the other files (leave one file out, docs/detection.md)', false)
  .option('--json', 'print the figures as one JSON object on the last line of stdout', false)
  .action(async (opts) => {
    const threshold = Number(opts.threshold)
    if (!(threshold > 0 && threshold <= 1)) throw new InvalidArgumentError('--threshold must be in (0, 1]')
    const { scoreNab, formatNab, scoreNabHeldOut } = await import('./cli/score-nab.ts')
    const total = await scoreNab({ data: opts.data, threshold, results: opts.results })
    process.stdout.write(`${formatNab(total)}\n`)
    const heldOut = opts.heldOut ? await scoreNabHeldOut({ data: opts.data, threshold }) : undefined
    if (heldOut) {
      const setting = (s: object): string => Object.entries(s).map(([k, v]) => `${k} ${String(v)}`).join(', ')
      process.stdout.write(`held out (leave one file out, ${heldOut.grid} settings):\n${heldOut.chosen.map((c) => `  ${c.file}: ${setting(c.setting)}`).join('\n')}\n${formatNab(heldOut.total)}\n`)
      process.stdout.write(`false warnings per stationary series (30 × 4,000 rows each):\n${heldOut.stationary.map((x) => `  ${setting(x.setting)}${x.setting === heldOut.stationary[0]!.setting ? ' (default)' : ''}: ${Object.entries(x.warnings).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`).join('\n')}\n`)
    }
    if (opts.json) printJson(heldOut ? { ...total, heldOut } : total)
  })

program
  .command('dashboards')
  .description('write Grafana dashboards and provisioning files')
  .requiredOption('--out <dir>', 'output folder')
  .option('--datasource-uid <uid>', 'uid of the InfluxDB data source in Grafana')
  .option('--influx-url <url>', 'InfluxDB URL written into the data source provisioning file')
  .option('--catalogue <dir>', 'also the machine types in DIR/*.json (env FOREWARN_CATALOGUE_DIR)')
  .action(async (opts) => {
    const { installCatalogueDir } = await import('./cli/catalogue.ts')
    installCatalogueDir(opts.catalogue ?? process.env.FOREWARN_CATALOGUE_DIR ?? null)
    const { runDashboards } = await import('./dashboards/index.ts')
    const { files } = await runDashboards(opts)
    for (const f of files) process.stderr.write(`wrote ${f}\n`)
  })

program
  .command('bench')
  .description('measure throughput, latency and memory on loopback, side by side with Mosquitto (docs/benchmarks.md)')
  .option('--quick', 'small sizes and one run: a smoke check that completes in about a minute', false)
  .option('--json', 'print the figures as one JSON object on the last line of stdout', false)
  .option('--store-before <dir>', "another checkout (with its node_modules) whose records store is measured beside this one's")
  .option('--cluster', 'instead: one process, then a NATS cluster (3 nats-server nodes, PostgreSQL) with 1 and 2 workers, in one run (docs/scaling.md)', false)
  .action(async (opts) => {
    const { runBench } = await import('./cli/bench.ts')
    await runBench(opts)
  })

const catalogueCmd = program.command('catalogue').description('machine types defined as data (catalogue/*.json, catalogue/schema.json)')
catalogueCmd
  .command('check')
  .description('validate every DIR/*.json against the catalogue schema and rules, without starting')
  .argument('<dir>', 'folder of catalogue files')
  .action(async (dir: string) => {
    const { runCatalogueCheck } = await import('./cli/catalogue.ts')
    process.exitCode = runCatalogueCheck(dir)
  })
catalogueCmd
  .command('schema')
  .description('print the JSON Schema of a catalogue file (the shipped catalogue/schema.json)')
  .action(async () => {
    const { catalogueSchemaText } = await import('./cli/catalogue.ts')
    process.stdout.write(catalogueSchemaText())
  })

const devices = program.command('devices').description('device registry')
devices
  .command('import')
  .description('provision a production batch from a CSV: type,model,serial,region,installDate,warrantyEnd[,extendedWarranty][,ownerRef]')
  .argument('<file>', 'CSV file with a header row')
  .requiredOption('--api <url>', 'Forewarn API URL')
  .requiredOption('--api-key <key>', 'API key with the devices:admin scope')
  .option('--out <file>', 'where to write the issued credentials (CSV, mode 0600)', 'credentials.csv')
  .option('--json', 'print the summary as one JSON object on the last line of stdout', false)
  .action(async (file: string, opts) => {
    const { runDevicesImport } = await import('./cli/devices-import.ts')
    await runDevicesImport({ file, ...opts })
  })

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof ForewarnError) {
    process.stderr.write(`forewarn: ${err.code}: ${err.message}\n`)
    process.exit(2)
  }
  throw err
}

/**
 * Command-line flags and their environment variables → validated options.
 * Pure. The variables, their parsers and defaults are one table (settings.ts);
 * a flag wins over its variable and goes through the same parser.
 */
import { parseArgs } from 'node:util';
import type { FlagKind } from '../common/cli.ts';
import { ConfigError, read, ValueProblem, type Env, type Variable } from '../common/config/schema.ts';
import { FORMATS, SIMULATOR, type Format } from './settings.ts';

export { FORMATS, type Format };

export interface SimulatorOptions {
  readonly url: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly devices: number;
  readonly locations: number;
  readonly intervalMs: number;
  readonly qos: 0 | 1 | 2;
  readonly format: Format;
  readonly durationS: number | undefined;
  readonly seed: number;
  /** Load mode when set: messages per second over all connections; 0 = as fast as possible. */
  readonly rate: number | undefined;
  readonly connections: number;
  /** Load mode: shares of the devices that go offline / fall silent at `troubleAtS`. */
  readonly offlineShare: number;
  readonly silentShare: number;
  readonly troubleAtS: number;
  readonly scenario: string | undefined;
  /** Unplanned drops, restarts and anomalies per device per hour; 0 turns them off. */
  readonly churnPerHour: number;
  readonly quiet: boolean;
}

export const HELP = `Usage: npm run simulator -- [options]

A fleet of smart sensors: one MQTT connection per device (client id = device id),
a retained "online" birth and an "offline" last will on sensors/{location}/{device}/status,
readings on sensors/{location}/{device}/telemetry.

Connection
  --url URL              broker URL                (MQTT_URL, default mqtt://localhost:1883)
  --username NAME        (MQTT_USERNAME)
  --password SECRET      (MQTT_PASSWORD)
  --ca FILE              CA bundle for mqtts://     (MQTT_CA_FILE)
  --cert FILE            client certificate          (MQTT_CERT_FILE)
  --key FILE             client key                  (MQTT_KEY_FILE)
Fleet
  --devices N            devices                     (SIM_DEVICES, default 10)
  --locations N          locations they spread over  (SIM_LOCATIONS, default 3)
  --interval-ms MS       time between readings       (SIM_INTERVAL_MS, default 5000)
  --qos 0|1|2            (SIM_QOS, default 1)
  --format F             json | value | lp           (SIM_FORMAT, default json)
                         value: one bare number per topic sensors/{location}/{device}/{field}
                         lp: InfluxDB line protocol
  --churn-per-hour X     drops, restarts, stuck sensors, spikes, out-of-range readings and
                         silent spells per device per hour (SIM_CHURN_PER_HOUR, default 0.5; 0 = none)
  --scenario FILE        timed events (YAML), see simulator/scenarios/ (SIM_SCENARIO)
Run
  --duration S           stop after S seconds        (SIM_DURATION; runs until stopped when absent)
  --seed N               reproducible profiles, noise and churn (SIM_SEED, default 1)
  --rate N               load mode: N messages/s in all, 0 = as fast as possible (SIM_RATE)
  --connections N        load mode connections        (SIM_CONNECTIONS, default 4)
  --offline-share X      load mode: share of the devices that go offline at --trouble-at
                         (retained "offline" status, then nothing) (SIM_OFFLINE_SHARE, default 0)
  --silent-share X       load mode: share that fall silent at --trouble-at (SIM_SILENT_SHARE, default 0)
  --trouble-at S         load mode: seconds after the start (SIM_TROUBLE_AT, default 0)
  --quiet                no progress line, no event log
`;

/** The flags, as node:util parseArgs reads them. */
const PARSE_OPTIONS = {
  url: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' },
  ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
  devices: { type: 'string' }, locations: { type: 'string' }, 'interval-ms': { type: 'string' },
  qos: { type: 'string' }, format: { type: 'string' }, duration: { type: 'string' }, seed: { type: 'string' },
  rate: { type: 'string' }, connections: { type: 'string' }, scenario: { type: 'string' },
  'offline-share': { type: 'string' }, 'silent-share': { type: 'string' }, 'trouble-at': { type: 'string' },
  'churn-per-hour': { type: 'string' }, quiet: { type: 'boolean' },
} as const;

/** The same flags for the shared command line (common/cli.ts): all take a value but --quiet. */
export const SIMULATOR_FLAGS: Readonly<Record<string, FlagKind>> = Object.fromEntries(
  Object.entries(PARSE_OPTIONS).map(([name, spec]) => [name, spec.type === 'boolean' ? 'switch' : 'value']),
);

export class UsageError extends Error {}

/**
 * The flag's value when given (its errors name the flag), else the variable's
 * (its errors name the variable).
 */
function option<T, R>(flag: string, given: string | undefined, variable: Variable<T, R>, env: Env): R {
  try {
    if (given === undefined) return read(env, variable);
    return variable.parse(given) as unknown as R;
  } catch (error) {
    if (error instanceof ValueProblem) throw new UsageError(`--${flag} ${JSON.stringify(given)}: ${error.expected}`);
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): SimulatorOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: PARSE_OPTIONS,
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const options: SimulatorOptions = {
    url: option('url', values.url, SIMULATOR.MQTT_URL, env),
    username: option('username', values.username, SIMULATOR.MQTT_USERNAME, env),
    password: option('password', values.password, SIMULATOR.MQTT_PASSWORD, env),
    ca: option('ca', values.ca, SIMULATOR.MQTT_CA_FILE, env),
    cert: option('cert', values.cert, SIMULATOR.MQTT_CERT_FILE, env),
    key: option('key', values.key, SIMULATOR.MQTT_KEY_FILE, env),
    devices: option('devices', values.devices, SIMULATOR.SIM_DEVICES, env),
    locations: option('locations', values.locations, SIMULATOR.SIM_LOCATIONS, env),
    intervalMs: option('interval-ms', values['interval-ms'], SIMULATOR.SIM_INTERVAL_MS, env),
    qos: option('qos', values.qos, SIMULATOR.SIM_QOS, env),
    format: option('format', values.format, SIMULATOR.SIM_FORMAT, env),
    durationS: option('duration', values.duration, SIMULATOR.SIM_DURATION, env),
    seed: option('seed', values.seed, SIMULATOR.SIM_SEED, env),
    rate: option('rate', values.rate, SIMULATOR.SIM_RATE, env),
    connections: option('connections', values.connections, SIMULATOR.SIM_CONNECTIONS, env),
    offlineShare: option('offline-share', values['offline-share'], SIMULATOR.SIM_OFFLINE_SHARE, env),
    silentShare: option('silent-share', values['silent-share'], SIMULATOR.SIM_SILENT_SHARE, env),
    troubleAtS: option('trouble-at', values['trouble-at'], SIMULATOR.SIM_TROUBLE_AT, env),
    scenario: option('scenario', values.scenario, SIMULATOR.SIM_SCENARIO, env),
    churnPerHour: option('churn-per-hour', values['churn-per-hour'], SIMULATOR.SIM_CHURN_PER_HOUR, env),
    quiet: values.quiet ?? false,
  };
  if (options.offlineShare + options.silentShare > 1) {
    throw new UsageError(`--offline-share (${options.offlineShare}) + --silent-share (${options.silentShare}): expected at most 1 together`);
  }
  return options;
}

/** Command-line flags and their environment variables → validated options. Pure. */
import { parseArgs } from 'node:util';

export const FORMATS = ['json', 'value', 'lp'] as const;
export type Format = (typeof FORMATS)[number];

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
  --quiet                no progress line, no event log
  --help
`;

export class UsageError extends Error {}

function wholeNumber(name: string, raw: string | undefined, fallback: number | undefined, min: number, max: number): number | undefined {
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

function decimal(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected a number from ${min} to ${max}`);
  return value;
}

export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): SimulatorOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' },
        ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
        devices: { type: 'string' }, locations: { type: 'string' }, 'interval-ms': { type: 'string' },
        qos: { type: 'string' }, format: { type: 'string' }, duration: { type: 'string' }, seed: { type: 'string' },
        rate: { type: 'string' }, connections: { type: 'string' }, scenario: { type: 'string' },
        'churn-per-hour': { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const format = values.format ?? env.SIM_FORMAT ?? 'json';
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${JSON.stringify(format)}: expected one of ${FORMATS.join(', ')}`);
  return {
    url: values.url ?? env.MQTT_URL ?? 'mqtt://localhost:1883',
    username: values.username ?? env.MQTT_USERNAME,
    password: values.password ?? env.MQTT_PASSWORD,
    ca: values.ca ?? env.MQTT_CA_FILE,
    cert: values.cert ?? env.MQTT_CERT_FILE,
    key: values.key ?? env.MQTT_KEY_FILE,
    devices: wholeNumber('devices', values.devices ?? env.SIM_DEVICES, 10, 1, 100_000)!,
    locations: wholeNumber('locations', values.locations ?? env.SIM_LOCATIONS, 3, 1, 10_000)!,
    intervalMs: wholeNumber('interval-ms', values['interval-ms'] ?? env.SIM_INTERVAL_MS, 5000, 10, 86_400_000)!,
    qos: wholeNumber('qos', values.qos ?? env.SIM_QOS, 1, 0, 2) as 0 | 1 | 2,
    format: format as Format,
    durationS: wholeNumber('duration', values.duration ?? env.SIM_DURATION, undefined, 1, 31_536_000),
    seed: wholeNumber('seed', values.seed ?? env.SIM_SEED, 1, 0, 2 ** 32 - 1)!,
    rate: wholeNumber('rate', values.rate ?? env.SIM_RATE, undefined, 0, 10_000_000),
    connections: wholeNumber('connections', values.connections ?? env.SIM_CONNECTIONS, 4, 1, 1000)!,
    scenario: values.scenario ?? env.SIM_SCENARIO,
    churnPerHour: decimal('churn-per-hour', values['churn-per-hour'] ?? env.SIM_CHURN_PER_HOUR, 0.5, 0, 3600),
    quiet: values.quiet ?? false,
  };
}

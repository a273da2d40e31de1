/**
 * The simulator's environment variables. Each has a command-line flag too
 * (options.ts); a flag wins over its variable, and both go through the same
 * parser, so `--devices x` and `SIM_DEVICES=x` fail the same way.
 */
import { decimal, integer, oneOf, path } from '../common/config/parsers.ts';
import { optional, required, type Schema } from '../common/config/schema.ts';
import { INGESTOR } from '../ingestor/settings.ts';

export const FORMATS = ['json', 'value', 'lp'] as const;
export type Format = (typeof FORMATS)[number];

export const SIMULATOR = {
  MQTT_URL: INGESTOR.MQTT_URL,
  MQTT_USERNAME: INGESTOR.MQTT_USERNAME,
  MQTT_PASSWORD: INGESTOR.MQTT_PASSWORD,
  MQTT_CA_FILE: INGESTOR.MQTT_CA_FILE,
  MQTT_CERT_FILE: INGESTOR.MQTT_CERT_FILE,
  MQTT_KEY_FILE: INGESTOR.MQTT_KEY_FILE,
  SIM_DEVICES: required({ name: 'SIM_DEVICES', parse: integer(1, 100_000), default: '10', doc: 'devices (`--devices`)' }),
  SIM_LOCATIONS: required({ name: 'SIM_LOCATIONS', parse: integer(1, 10_000), default: '3', doc: 'locations they spread over (`--locations`)' }),
  SIM_INTERVAL_MS: required({ name: 'SIM_INTERVAL_MS', parse: integer(10, 86_400_000), default: '5000', doc: 'time between readings (`--interval-ms`)' }),
  SIM_QOS: required({ name: 'SIM_QOS', parse: (raw) => integer(0, 2)(raw) as 0 | 1 | 2, default: '1', doc: 'publish QoS (`--qos`)' }),
  SIM_FORMAT: required({ name: 'SIM_FORMAT', parse: oneOf(FORMATS), default: 'json', doc: '`json`, `value` (one bare number per topic) or `lp` (line protocol) (`--format`)' }),
  SIM_CHURN_PER_HOUR: required({ name: 'SIM_CHURN_PER_HOUR', parse: decimal(0, 3600), default: '0.5', doc: 'drops, restarts, stuck sensors, spikes, out-of-range readings and silent spells per device per hour; `0` none (`--churn-per-hour`)' }),
  SIM_SCENARIO: optional({ name: 'SIM_SCENARIO', parse: path, doc: 'timed events (YAML), see `simulator/scenarios/` (`--scenario`)' }),
  SIM_DURATION: optional({ name: 'SIM_DURATION', parse: integer(1, 31_536_000), defaultDoc: 'until stopped', doc: 'stop after this many seconds (`--duration`)' }),
  SIM_SEED: required({ name: 'SIM_SEED', parse: integer(0, 2 ** 32 - 1), default: '1', doc: 'reproducible profiles, noise and churn (`--seed`)' }),
  SIM_RATE: optional({ name: 'SIM_RATE', parse: integer(0, 10_000_000), defaultDoc: '– (fleet mode)', doc: 'load mode: messages per second over all connections, `0` as fast as possible (`--rate`)' }),
  SIM_OFFLINE_SHARE: required({ name: 'SIM_OFFLINE_SHARE', parse: decimal(0, 1), default: '0', doc: 'load mode: share of the devices that go offline at `SIM_TROUBLE_AT` (a retained `offline` status with its time, then nothing), e.g. `0.01` (`--offline-share`)' }),
  SIM_SILENT_SHARE: required({ name: 'SIM_SILENT_SHARE', parse: decimal(0, 1), default: '0', doc: 'load mode: share of the devices that fall silent at `SIM_TROUBLE_AT` (no status, just nothing more) (`--silent-share`)' }),
  SIM_TROUBLE_AT: required({ name: 'SIM_TROUBLE_AT', parse: integer(0, 31_536_000), default: '0', doc: 'load mode: seconds after the start when the offline and silent shares stop (`--trouble-at`)' }),
  SIM_CONNECTIONS: required({ name: 'SIM_CONNECTIONS', parse: integer(1, 1000), default: '4', doc: 'load mode connections (`--connections`)' }),
} as const;

export const SIMULATOR_SCHEMA: Schema = { program: 'simulator (`npm run simulator`; each variable also has a flag)', variables: Object.values(SIMULATOR) };

/** `npm run stack`'s environment variables (scripts/stack/config.ts). */
import { integer, listenAddress, oneOf, path, text, verbatim } from '../../common/config/parsers.ts';
import { required, type Schema } from '../../common/config/schema.ts';
import { EMQX_USERS } from '../../broker/emqx/settings.ts';
import { INGESTOR } from '../../ingestor/settings.ts';
import { SETUP } from '../../influxdb/settings.ts';
import { NOTIFIER } from '../../notifier/settings.ts';

const stackPort = (name: string, fallback: number, what: string) =>
  required({ name, parse: integer(1, 65535, 'expected a port number from 1 to 65535'), default: String(fallback), doc: `port of ${what}` });

export const STACK = {
  STACK_DIR: required({ name: 'STACK_DIR', parse: path, default: 'data/stack', doc: 'all state and logs (relative to the project)' }),
  STACK_HOST: required({ name: 'STACK_HOST', parse: listenAddress('127.0.0.1'), default: '127.0.0.1', doc: 'address everything listens on' }),
  STACK_BROKER: required({
    name: 'STACK_BROKER',
    parse: oneOf(['dev', 'mosquitto'] as const, 'expected dev (the development broker, EMQX presence events) or mosquitto (the system\'s Mosquitto)'),
    default: 'dev',
    doc: '`dev`: the development broker (EMQX presence events); `mosquitto`: the system\'s Mosquitto',
  }),
  STACK_MQTT_PORT: stackPort('STACK_MQTT_PORT', 1883, 'the MQTT broker'),
  STACK_INFLUX_PORT: stackPort('STACK_INFLUX_PORT', 8086, 'InfluxDB'),
  STACK_INGESTOR_PORT: stackPort('STACK_INGESTOR_PORT', 8080, 'the ingestor\'s `/healthz`, `/readyz`, `/metrics`'),
  STACK_NOTIFIER_PORT: stackPort('STACK_NOTIFIER_PORT', 8090, 'the notifier'),
  STACK_GRAFANA_PORT: stackPort('STACK_GRAFANA_PORT', 3000, 'Grafana'),
  SIMULATOR_DEVICES: required({ name: 'SIMULATOR_DEVICES', parse: integer(0, 100_000, 'expected a number of devices from 0 (no simulator) to 100000'), default: '20', doc: 'simulated devices; `0`: no simulator' }),
  INFLUX_BUCKET: INGESTOR.INFLUX_BUCKET,
  INFLUX_RETENTION: SETUP.INFLUX_RETENTION,
  MQTT_MONITOR_PASSWORD: { ...EMQX_USERS.MQTT_MONITOR_PASSWORD, defaultDoc: 'the `.env` development one' },
  MQTT_GATEWAY_PASSWORD: { ...EMQX_USERS.MQTT_GATEWAY_PASSWORD, defaultDoc: 'the `.env` development one' },
  MQTT_DEVICES_FILE: EMQX_USERS.MQTT_DEVICES_FILE,
  NOTIFIER_TOKEN: { ...NOTIFIER.NOTIFIER_TOKEN, defaultDoc: '– (no notifier)' },
  GRAFANA_ADMIN_USER: required({ name: 'GRAFANA_ADMIN_USER', parse: text, default: 'admin', doc: 'Grafana\'s administrator' }),
  GRAFANA_ADMIN_PASSWORD: required({ name: 'GRAFANA_ADMIN_PASSWORD', parse: verbatim, secret: true, default: 'sensorflow-dev-password', defaultDoc: 'the `.env` development one', doc: 'Grafana\'s administrator password' }),
} as const;

export const STACK_SCHEMA: Schema = { program: '`npm run stack` (also passes on the notifier\'s variables)', variables: Object.values(STACK) };

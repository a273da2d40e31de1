/** The compose stack's `emqx-users` one-shot (broker/emqx/bootstrap.ts); `npm run stack` reads the same passwords. */
import { path, verbatim } from '../../common/config/parsers.ts';
import { optional, required, secretNames, type Schema } from '../../common/config/schema.ts';

export const EMQX_USERS = {
  MQTT_MONITOR_PASSWORD: optional({ name: 'MQTT_MONITOR_PASSWORD', parse: verbatim, secret: true, defaultDoc: 'required (`.env` has a development one)', doc: 'password of the broker user `monitor`, the ingestor\'s login' }),
  MQTT_GATEWAY_PASSWORD: optional({ name: 'MQTT_GATEWAY_PASSWORD', parse: verbatim, secret: true, defaultDoc: 'required (`.env` has a development one)', doc: 'password of the broker user `gateway`, which may publish for any device: the simulator, or a field gateway bridging many sensors (trusted like every device it serves)' }),
  MQTT_DEVICES_FILE: optional({ name: 'MQTT_DEVICES_FILE', parse: path, defaultDoc: '– (no per-device users)', doc: 'per-device broker users, YAML `devices: [{ username, password }]` (`broker/emqx/devices.example.yaml`); each device may publish only as itself' }),
  EMQX_BOOTSTRAP_FILE: required({ name: 'EMQX_BOOTSTRAP_FILE', parse: path, default: 'data/emqx/users.json', doc: 'where EMQX\'s bootstrap users file is written (compose: the volume EMQX reads it from)' }),
} as const;

export const EMQX_USERS_SCHEMA: Schema = { program: 'EMQX users (compose\'s one-shot `emqx-users`)', variables: Object.values(EMQX_USERS) };

/** What SENSORFLOW_ENV=production checks before EMQX starts: the users' passwords, and EMQX's own secrets compose hands it to check. */
export const EMQX_USERS_REFUSES = [...secretNames(EMQX_USERS_SCHEMA), 'EMQX_DASHBOARD_PASSWORD', 'EMQX_NODE_COOKIE'];

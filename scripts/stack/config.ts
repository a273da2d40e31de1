/**
 * What `npm run stack` runs, decided from the environment: ports, where data
 * goes, which broker, whether the simulator, notifier and Grafana run, and the
 * configuration files it writes for them. Pure (no I/O): the caller passes in
 * what it found on the machine.
 */
import { isAbsolute, join } from 'node:path';
import type { DeviceUser } from '../../broker/device-users.ts';
import { ConfigError, isSet, read, type Env } from '../../common/config/schema.ts';
import { DEVELOPMENT_SECRETS } from '../../common/production.ts';
import { STACK } from './settings.ts';

export interface Port {
  /** What listens there, for messages. */
  readonly what: string;
  /** The variable that moves it. */
  readonly variable: string;
  readonly port: number;
}

export interface StackConfig {
  readonly root: string;
  /** All state and logs: STACK_DIR, default data/stack under the project. */
  readonly dir: string;
  readonly host: string;
  readonly broker: 'dev' | 'mosquitto';
  readonly ports: {
    readonly mqtt: Port;
    readonly influx: Port;
    readonly ingestor: Port;
    readonly notifier: Port;
    readonly grafana: Port;
  };
  readonly bucket: string;
  /** INFLUX_RETENTION in seconds, 0 for infinite. */
  readonly retentionSeconds: number;
  readonly simulatorDevices: number;
  readonly monitorPassword: string;
  /** The `gateway` user's: the simulator publishes for all its devices as it. */
  readonly gatewayPassword: string;
  /** MQTT_DEVICES_FILE, absolute (relative to the project), when set: per-device users. */
  readonly devicesFile: string | undefined;
  /** NOTIFIER_TOKEN (or _FILE) is set: the notifier starts, and checks it itself. */
  readonly notifierTokenSet: boolean;
  readonly grafanaAdminUser: string;
  readonly grafanaAdminPassword: string;
}

export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

function port(env: Env, variable: typeof STACK.STACK_MQTT_PORT, what: string): Port {
  return { what, variable: variable.name, port: read(env, variable) };
}

/** Throws StackConfigError naming the variable, the value and what is expected. */
export function loadStackConfig(env: Env, root: string): StackConfig {
  try {
    return load(env, root);
  } catch (error) {
    if (error instanceof ConfigError) throw new StackConfigError(error.message);
    throw error;
  }
}

function load(env: Env, root: string): StackConfig {
  const broker = read(env, STACK.STACK_BROKER);
  const host = read(env, STACK.STACK_HOST);
  const simulatorDevices = read(env, STACK.SIMULATOR_DEVICES);
  const dir = read(env, STACK.STACK_DIR);
  const devicesFile = read(env, STACK.MQTT_DEVICES_FILE);
  const ports = {
    mqtt: port(env, STACK.STACK_MQTT_PORT, 'MQTT broker'),
    influx: port(env, STACK.STACK_INFLUX_PORT, 'InfluxDB'),
    ingestor: port(env, STACK.STACK_INGESTOR_PORT, 'ingestor /healthz, /readyz, /metrics'),
    notifier: port(env, STACK.STACK_NOTIFIER_PORT, 'notifier'),
    grafana: port(env, STACK.STACK_GRAFANA_PORT, 'Grafana'),
  };
  const seen = new Map<number, string>();
  for (const p of Object.values(ports)) {
    const other = seen.get(p.port);
    if (other !== undefined) throw new StackConfigError(`${p.variable}=${p.port}: already used by ${other}; choose another port`);
    seen.set(p.port, p.variable);
  }
  return {
    root,
    dir: dir.startsWith('/') ? dir : join(root, dir),
    host,
    broker,
    ports,
    bucket: read(env, STACK.INFLUX_BUCKET),
    retentionSeconds: read(env, STACK.INFLUX_RETENTION),
    simulatorDevices,
    monitorPassword: read(env, STACK.MQTT_MONITOR_PASSWORD) ?? DEVELOPMENT_SECRETS.MQTT_MONITOR_PASSWORD!,
    gatewayPassword: read(env, STACK.MQTT_GATEWAY_PASSWORD) ?? DEVELOPMENT_SECRETS.MQTT_GATEWAY_PASSWORD!,
    devicesFile: devicesFile === undefined || isAbsolute(devicesFile) ? devicesFile : join(root, devicesFile),
    notifierTokenSet: isSet(env, STACK.NOTIFIER_TOKEN),
    grafanaAdminUser: read(env, STACK.GRAFANA_ADMIN_USER),
    grafanaAdminPassword: read(env, STACK.GRAFANA_ADMIN_PASSWORD),
  };
}

/** influxd 1.x: everything under the project, loopback only, quiet. */
export function influxdConfig(config: StackConfig, rpcPort: number): string {
  const dir = join(config.dir, 'influxdb');
  return [
    '# Written by `npm run stack`; edits are overwritten at the next start.',
    'reporting-disabled = true',
    `bind-address = "127.0.0.1:${rpcPort}"`,
    '[meta]',
    `  dir = "${join(dir, 'meta')}"`,
    '[data]',
    `  dir = "${join(dir, 'data')}"`,
    `  wal-dir = "${join(dir, 'wal')}"`,
    '  query-log-enabled = false',
    '[monitor]',
    '  store-enabled = false',
    '[http]',
    `  bind-address = "${config.host}:${config.ports.influx.port}"`,
    '  log-enabled = false',
    '[continuous_queries]',
    '  log-enabled = false',
    '[logging]',
    '  level = "warn"',
    '  suppress-logo = true',
    '',
  ].join('\n');
}

/** Everyone the stack's broker knows: the ingestor's `monitor`, the simulator's `gateway`, then each device. */
export function brokerUsers(config: StackConfig, devices: readonly DeviceUser[]): { username: string; password: string; role: 'monitor' | 'gateway' | 'device' }[] {
  return [
    { username: 'monitor', password: config.monitorPassword, role: 'monitor' },
    { username: 'gateway', password: config.gatewayPassword, role: 'gateway' },
    ...devices.map((device) => ({ ...device, role: 'device' as const })),
  ];
}

/** The development broker's users file (broker/dev/users.ts); no anonymous clients. */
export function devBrokerUsers(config: StackConfig, devices: readonly DeviceUser[]): string {
  return [
    '# Written by `npm run stack` from .env (MQTT_MONITOR_PASSWORD, MQTT_GATEWAY_PASSWORD, MQTT_DEVICES_FILE).',
    'users:',
    ...brokerUsers(config, devices).map((user) => `  - { username: ${JSON.stringify(user.username)}, password: ${JSON.stringify(user.password)}, role: ${user.role} }`),
    '',
  ].join('\n');
}

/** Mosquitto 2: loopback, passwords, the repo's ACL, persistence under the project. */
export function mosquittoConfig(config: StackConfig, asRoot: boolean): string {
  const dir = join(config.dir, 'mosquitto');
  return [
    '# Written by `npm run stack`; edits are overwritten at the next start.',
    // As root Mosquitto drops to the `mosquitto` user, which cannot read the project.
    ...(asRoot ? ['user root'] : []),
    `listener ${config.ports.mqtt.port} ${config.host}`,
    'allow_anonymous false',
    `password_file ${join(dir, 'passwd')}`,
    `acl_file ${join(config.root, 'broker', 'mosquitto', 'acl')}`,
    'persistence true',
    `persistence_location ${dir}/`,
    'max_queued_messages 100000',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
}

/** grafana-server's ini: data under the project, this repo's provisioning, loopback. */
export function grafanaIni(config: StackConfig): string {
  const dir = join(config.dir, 'grafana');
  return [
    '; Written by `npm run stack`; edits are overwritten at the next start.',
    '[paths]',
    `data = ${join(dir, 'data')}`,
    `logs = ${join(dir, 'logs')}`,
    `plugins = ${join(dir, 'plugins')}`,
    `provisioning = ${join(config.root, 'grafana', 'provisioning')}`,
    '[server]',
    `http_addr = ${config.host}`,
    `http_port = ${config.ports.grafana.port}`,
    '[analytics]',
    'reporting_enabled = false',
    'check_for_updates = false',
    '[users]',
    'allow_sign_up = false',
    '',
  ].join('\n');
}

/** The ready-made query the stack prints, and the command that runs it. */
export function exampleQuery(config: StackConfig): { query: string; command: string } {
  const query = 'SELECT "temperature", "humidity", "battery" FROM "telemetry" WHERE time > now() - 5m GROUP BY "device" ORDER BY time DESC LIMIT 1';
  const url = `http://${config.host}:${config.ports.influx.port}/query`;
  return { query, command: `curl -sG ${url} --data-urlencode db=${config.bucket} --data-urlencode 'q=${query}'` };
}

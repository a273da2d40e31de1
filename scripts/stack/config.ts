/**
 * What `npm run stack` runs, decided from the environment: ports, where data
 * goes, which broker, whether the simulator, notifier and Grafana run, and the
 * configuration files it writes for them. Pure (no I/O): the caller passes in
 * what it found on the machine.
 */
import { join } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;

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
  readonly retention: string;
  readonly simulatorDevices: number;
  readonly monitorPassword: string;
  readonly devicePassword: string;
  readonly notifierToken: string | undefined;
  readonly grafanaAdminUser: string;
  readonly grafanaAdminPassword: string;
}

export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

function port(env: Env, variable: string, fallback: number, what: string): Port {
  const raw = env[variable]?.trim() || String(fallback);
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new StackConfigError(`${variable}=${JSON.stringify(raw)}: expected a port number from 1 to 65535`);
  return { what, variable, port: value };
}

export function loadStackConfig(env: Env, root: string): StackConfig {
  const broker = env.STACK_BROKER?.trim() || 'dev';
  if (broker !== 'dev' && broker !== 'mosquitto') throw new StackConfigError(`STACK_BROKER=${JSON.stringify(broker)}: expected dev (the development broker, EMQX presence events) or mosquitto (the system's Mosquitto)`);
  const host = env.STACK_HOST?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:_-]+$/.test(host)) throw new StackConfigError(`STACK_HOST=${JSON.stringify(host)}: expected an address to listen on, such as 127.0.0.1`);
  const devicesRaw = env.SIMULATOR_DEVICES?.trim() || '20';
  if (!/^\d+$/.test(devicesRaw) || Number(devicesRaw) > 100_000) throw new StackConfigError(`SIMULATOR_DEVICES=${JSON.stringify(devicesRaw)}: expected a number of devices from 0 (no simulator) to 100000`);
  const dir = env.STACK_DIR?.trim() || join(root, 'data', 'stack');
  const ports = {
    mqtt: port(env, 'STACK_MQTT_PORT', 1883, 'MQTT broker'),
    influx: port(env, 'STACK_INFLUX_PORT', 8086, 'InfluxDB'),
    ingestor: port(env, 'STACK_INGESTOR_PORT', 8080, 'ingestor /healthz, /readyz, /metrics'),
    notifier: port(env, 'STACK_NOTIFIER_PORT', 8090, 'notifier'),
    grafana: port(env, 'STACK_GRAFANA_PORT', 3000, 'Grafana'),
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
    bucket: env.INFLUX_BUCKET?.trim() || 'iot',
    retention: env.INFLUX_RETENTION?.trim() || '30d',
    simulatorDevices: Number(devicesRaw),
    monitorPassword: env.MQTT_MONITOR_PASSWORD || 'monitor-dev-password',
    devicePassword: env.MQTT_DEVICE_PASSWORD || 'device-dev-password',
    notifierToken: env.NOTIFIER_TOKEN || undefined,
    grafanaAdminUser: env.GRAFANA_ADMIN_USER || 'admin',
    grafanaAdminPassword: env.GRAFANA_ADMIN_PASSWORD || 'sensorflow-dev-password',
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

/** The development broker's users: the ingestor's `monitor`, the devices' `device`; no anonymous clients. */
export function devBrokerUsers(config: StackConfig): string {
  return [
    '# Written by `npm run stack` from .env (MQTT_MONITOR_PASSWORD, MQTT_DEVICE_PASSWORD).',
    'allow_anonymous_devices: false',
    'users:',
    `  - { username: monitor, password: ${JSON.stringify(config.monitorPassword)}, role: monitor }`,
    `  - { username: device, password: ${JSON.stringify(config.devicePassword)}, role: device }`,
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

/**
 * `npm run stack`: the whole pipeline without Docker, from what the machine
 * has, for a laptop or an edge gateway. As any user; everything it starts
 * listens on 127.0.0.1 (STACK_HOST) and keeps its data under data/stack
 * (STACK_DIR):
 *
 *   broker     the development broker (npm run broker; EMQX presence events),
 *              or the system's Mosquitto with STACK_BROKER=mosquitto
 *   influxdb   influxd 1.x from the system's packages, database set up by
 *              `npm run setup` (INFLUX_API=v1)
 *   notifier   when notifier/main.ts exists and NOTIFIER_TOKEN is set
 *   ingestor   npm run ingestor, writing to that influxd
 *   simulator  SIMULATOR_DEVICES devices (0: none), authenticated as `device`
 *   grafana    when grafana-server is on the PATH, with this repo's provisioning
 *
 * One status line per service, then where to look. Ctrl-C (SIGINT) or SIGTERM
 * stops everything in order (the ingestor drains its log first) and leaves no
 * process behind; a second Ctrl-C kills at once. Exit codes: 0 after a clean
 * stop, 1 when a service failed, 2 when something is in the way (a port in
 * use, a missing program, a bad setting), said in one line each.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { config as loadDotenv } from 'dotenv';
import { isSet } from '../common/config/schema.ts';
import { commandLine } from '../common/cli.ts';
import { NOTIFIER } from '../notifier/settings.ts';
import { runSetup } from '../influxdb/setup.ts';
import { parseDeviceUsers, type DeviceUser } from '../broker/device-users.ts';
import { STACK_SCHEMA } from './stack/settings.ts';
import { brokerUsers, devBrokerUsers, exampleQuery, grafanaIni, influxdConfig, loadStackConfig, mosquittoConfig, StackConfigError, type Port, type StackConfig } from './stack/config.ts';
import { portHolder, portProblem } from './stack/ports.ts';

// Not import.meta.dirname: that needs Node 20.11, and package.json promises 20.9.
const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<number | string>;
  /** Set when we asked it to stop: its exit is then no failure. */
  stopping: boolean;
  /** How long SIGTERM gets before SIGKILL. */
  readonly graceMs: number;
}

const services: Service[] = [];
let shuttingDown = false;

function line(name: string, mark: '✓' | '✗' | '–' | '…', text: string): void {
  process.stdout.write(`  ${name.padEnd(10)} ${mark} ${text}\n`);
}

function fail(message: string, code = 2): never {
  process.stderr.write(`stack: ${message}\n`);
  process.exit(code);
}

function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/local/sbin'])) {
    const candidate = join(dir, program);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function launch(config: StackConfig, name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv, graceMs = 10_000): Service {
  const logPath = join(config.dir, 'logs', `${name}.log`);
  const log = openSync(logPath, 'w');
  // Its own process group: a terminal's Ctrl-C reaches only us, and we stop
  // the services in order (the ingestor must drain while InfluxDB still runs).
  const child = spawn(command, args, { cwd: config.root, env, stdio: ['ignore', log, log], detached: true });
  closeSync(log);
  const exited = new Promise<number | string>((done) => {
    child.once('error', (error) => done(error.message));
    child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown'));
  });
  const service: Service = { name, child, logPath, exited, stopping: false, graceMs };
  services.push(service);
  void exited.then((how) => {
    if (service.stopping || shuttingDown) return;
    line(name, '✗', `exited (${how}): see ${relative(process.cwd(), logPath)}`);
    process.stdout.write(lastLines(logPath));
    void shutdown(1);
  });
  return service;
}

function lastLines(path: string, count = 8): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n').slice(-count);
    return lines.map((text) => `             | ${text.slice(0, 300)}\n`).join('');
  } catch {
    return '';
  }
}

async function stopService(service: Service): Promise<void> {
  service.stopping = true;
  if (service.child.pid === undefined || service.child.exitCode !== null || service.child.signalCode !== null) return;
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-service.child.pid!, signal);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  const timer = setTimeout(() => signalGroup('SIGKILL'), service.graceMs);
  await service.exited;
  clearTimeout(timer);
  // Anything the service left in its group goes too.
  signalGroup('SIGKILL');
}

async function shutdown(code: number): Promise<never> {
  if (!shuttingDown) {
    shuttingDown = true;
    process.stdout.write('\nstopping (Ctrl-C again to kill at once)\n');
    // Reverse start order: producers first, the ingestor drains while InfluxDB runs, stores last.
    for (const service of [...services].reverse()) {
      await stopService(service);
      line(service.name, '–', 'stopped');
    }
    rmSync(pidFile, { force: true });
  }
  process.exit(code);
}

let pidFile = '';

/** Polls `check` until true; fails when the service exits or time runs out. */
async function waitReady(service: Service, what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service.child.exitCode !== null || service.child.signalCode !== null) {
      throw new Error(`${service.name} exited before ${what}: see ${relative(process.cwd(), service.logPath)}\n${lastLines(service.logPath)}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${service.name}: no ${what} within ${timeoutMs / 1000} s: see ${relative(process.cwd(), service.logPath)}\n${lastLines(service.logPath)}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

const tcpOpen = (host: string, port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

const httpStatus = async (url: string): Promise<number | undefined> => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
};

const tsEntry = (path: string): string[] => ['--import', 'tsx', join(ROOT, path)];

async function main(): Promise<void> {
  // --help, --version and unknown flags first: nothing is started before.
  commandLine({
    name: 'stack',
    usage: `Usage: npm run stack

The whole pipeline without Docker, from what this machine has: the
development broker (or Mosquitto), influxd 1.x, the notifier, the ingestor,
the simulator and Grafana when installed, all on 127.0.0.1 (STACK_HOST),
state and logs under STACK_DIR. Ctrl-C stops everything in order. Reads
.env in the project; the notifier's variables are passed on. Exit codes: 0
after a clean stop, 1 a service failed, 2 something in the way.

Flags
`,
    schemas: [STACK_SCHEMA],
  });
  loadDotenv({ path: join(ROOT, '.env'), quiet: true });
  let config: StackConfig;
  try {
    config = loadStackConfig(process.env, ROOT);
  } catch (error) {
    if (error instanceof StackConfigError) fail(`invalid configuration: ${error.message}`);
    throw error;
  }
  const show = (path: string): string => {
    const near = relative(process.cwd(), path);
    return near === '' ? '.' : near.startsWith('..') ? path : near;
  };

  // Per-device broker users, checked before anything starts.
  let devices: DeviceUser[] = [];
  if (config.devicesFile !== undefined) {
    const file = config.devicesFile;
    try {
      devices = parseDeviceUsers(file, readFileSync(file, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      fail(`invalid configuration: MQTT_DEVICES_FILE=${JSON.stringify(show(file))}: ${code === undefined ? (error as Error).message.replace(`${file}: `, '') : `cannot read the file (${code})`}`);
    }
  }

  // --- what this machine has ---------------------------------------------------
  const influxd = which('influxd');
  if (influxd === undefined) fail('influxd (InfluxDB 1.x) not found: install it with `sudo apt-get install influxdb`');
  const mosquitto = config.broker === 'mosquitto' ? which('mosquitto') : undefined;
  const mosquittoPasswd = config.broker === 'mosquitto' ? which('mosquitto_passwd') : undefined;
  if (config.broker === 'mosquitto' && (mosquitto === undefined || mosquittoPasswd === undefined)) {
    fail('STACK_BROKER=mosquitto but mosquitto / mosquitto_passwd not found: `sudo apt-get install mosquitto`, or leave STACK_BROKER unset for the development broker');
  }
  const notifierEntry = join(ROOT, 'notifier', 'main.ts');
  const notifierWhy = !existsSync(notifierEntry) ? 'notifier/main.ts not in this checkout' : !config.notifierTokenSet ? 'NOTIFIER_TOKEN not set' : undefined;
  const grafanaServer = which('grafana-server');
  const grafanaCli = grafanaServer === undefined ? which('grafana') : undefined;
  const grafanaWhy = grafanaServer === undefined && grafanaCli === undefined ? 'grafana-server not on the PATH' : undefined;

  // --- another stack running? ports in use? ----------------------------------
  mkdirSync(join(config.dir, 'logs'), { recursive: true });
  pidFile = join(config.dir, 'stack.pid');
  if (existsSync(pidFile)) {
    const other = Number(readFileSync(pidFile, 'utf8'));
    // A stale file (the stack was killed) may name a pid reused by something else: check what runs there.
    let alive: boolean;
    try {
      alive = other !== process.pid && readFileSync(`/proc/${other}/cmdline`, 'utf8').includes('scripts/stack');
    } catch {
      alive = false;
    }
    if (alive) fail(`another \`npm run stack\` is running with ${show(config.dir)} (pid ${other}): stop it with Ctrl-C there, or use another STACK_DIR`);
  }
  const needed: Port[] = [config.ports.mqtt, config.ports.influx, config.ports.ingestor];
  if (notifierWhy === undefined) needed.push(config.ports.notifier);
  if (grafanaWhy === undefined) needed.push(config.ports.grafana);
  const blocked: string[] = [];
  for (const p of needed) {
    const problem = await portProblem(config.host, p.port);
    if (problem === 'EADDRINUSE') {
      blocked.push(`port ${p.port} (${p.what}) is in use by ${portHolder(p.port)}: stop that, or choose another port, e.g. ${p.variable}=${p.port + 10000} npm run stack`);
    } else if (problem !== undefined) {
      blocked.push(`port ${p.port} (${p.what}) cannot be used (${problem}): choose another with ${p.variable}=...`);
    }
  }
  if (blocked.length > 0) {
    for (const message of blocked) process.stderr.write(`stack: ${message}\n`);
    process.exit(2);
  }
  writeFileSync(pidFile, String(process.pid));

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (shuttingDown) {
        for (const service of services) {
          try {
            process.kill(-service.child.pid!, 'SIGKILL');
          } catch {
            // gone
          }
        }
        rmSync(pidFile, { force: true });
        process.exit(130);
      }
      void shutdown(0);
    });
  }

  process.stdout.write(`sensorflow stack: data in ${show(config.dir)}, logs in ${show(join(config.dir, 'logs'))}\n`);
  const mqttUrl = `mqtt://${config.host}:${config.ports.mqtt.port}`;
  const influxUrl = `http://${config.host}:${config.ports.influx.port}`;
  const baseEnv = { ...process.env };

  // --- broker ------------------------------------------------------------------
  const userNames = `users monitor, gateway${devices.length > 0 ? ` and ${devices.length} device${devices.length === 1 ? '' : 's'}` : ''}`;
  if (config.broker === 'dev') {
    const usersFile = join(config.dir, 'broker-users.yaml');
    writeFileSync(usersFile, devBrokerUsers(config, devices), { mode: 0o600 });
    const broker = launch(config, 'broker', process.execPath, tsEntry('broker/dev/main.ts'), {
      ...baseEnv, BROKER_HOST: config.host, BROKER_PORT: String(config.ports.mqtt.port), BROKER_USERS_FILE: usersFile, LOG_LEVEL: 'warn',
    });
    await waitReady(broker, 'MQTT listener', () => tcpOpen(config.host, config.ports.mqtt.port), 20_000);
    line('broker', '✓', `development broker on ${mqttUrl} (${userNames}; anonymous refused; EMQX presence events)`);
  } else {
    const dir = join(config.dir, 'mosquitto');
    mkdirSync(dir, { recursive: true });
    const passwd = join(dir, 'passwd');
    rmSync(passwd, { force: true });
    for (const { username, password } of brokerUsers(config, devices)) {
      const made = spawnSync(mosquittoPasswd!, [...(existsSync(passwd) ? [] : ['-c']), '-b', passwd, username, password], { stdio: 'ignore' });
      if (made.status !== 0) fail(`mosquitto_passwd could not write ${show(passwd)}`, 1);
    }
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(conf, mosquittoConfig(config, process.getuid?.() === 0));
    const broker = launch(config, 'broker', mosquitto!, ['-c', conf], baseEnv);
    await waitReady(broker, 'MQTT listener', () => tcpOpen(config.host, config.ports.mqtt.port), 20_000);
    line('broker', '✓', `Mosquitto on ${mqttUrl} (${userNames}; anonymous refused; presence from last wills)`);
  }

  // --- InfluxDB 1.x ----------------------------------------------------------------
  const influxConf = join(config.dir, 'influxdb', 'influxdb.conf');
  mkdirSync(join(config.dir, 'influxdb'), { recursive: true });
  const rpcPort = await freePort(config.host);
  writeFileSync(influxConf, influxdConfig(config, rpcPort));
  const influx = launch(config, 'influxdb', influxd, ['-config', influxConf], baseEnv, 15_000);
  await waitReady(influx, 'answer on /ping', async () => (await httpStatus(`${influxUrl}/ping`)) === 204, 30_000);
  const setupLines: string[] = [];
  await runSetup(
    { api: 'v1', url: influxUrl, org: '', bucket: config.bucket, adminToken: undefined, username: undefined, password: undefined, tokenDir: '', waitSeconds: 10, retentionSeconds: config.retentionSeconds },
    (text) => setupLines.push(text.replace(/^setup: /, '')),
  );
  line('influxdb', '✓', `InfluxDB 1.x on ${influxUrl}; ${setupLines.join('; ')}`);

  // --- notifier ----------------------------------------------------------------------
  const notifierUrl = `http://${config.host}:${config.ports.notifier.port}`;
  if (notifierWhy === undefined) {
    const notifier = launch(config, 'notifier', process.execPath, tsEntry('notifier/main.ts'), {
      ...baseEnv, NOTIFIER_HOST: config.host, NOTIFIER_PORT: String(config.ports.notifier.port), NOTIFIER_QUEUE_DIR: join(config.dir, 'notifier'), LOG_FORMAT: 'json',
    });
    await waitReady(notifier, '/healthz', async () => (await httpStatus(`${notifierUrl}/healthz`)) === 200, 30_000);
    line('notifier', '✓', `${notifierUrl}/grafana/webhook (DingTalk ${isSet(process.env, NOTIFIER.DINGTALK_WEBHOOK_URL) ? 'on' : 'off'}, Feishu ${isSet(process.env, NOTIFIER.FEISHU_WEBHOOK_URL) ? 'on' : 'off'})`);
  } else {
    line('notifier', '–', `not started: ${notifierWhy}`);
  }

  // --- ingestor ----------------------------------------------------------------------
  const ingestorUrl = `http://${config.host}:${config.ports.ingestor.port}`;
  const ingestor = launch(config, 'ingestor', process.execPath, tsEntry('ingestor/main.ts'), {
    ...baseEnv,
    MQTT_URL: mqttUrl,
    MQTT_USERNAME: 'monitor',
    MQTT_PASSWORD: config.monitorPassword,
    MQTT_CLIENT_ID: 'sensorflow-ingestor',
    // Empty: the routes' filters plus the status topic (and EMQX presence), not .env's list.
    MQTT_TOPICS: '',
    PRESENCE_EMQX: config.broker === 'dev' ? 'true' : 'false',
    INFLUX_URL: influxUrl,
    INFLUX_API: 'v1',
    INFLUX_BUCKET: config.bucket,
    WAL_DIR: join(config.dir, 'ingestor', 'wal'),
    DEVICE_DIRECTORY_FILE: join(config.dir, 'ingestor', 'devices.json'),
    HTTP_PORT: String(config.ports.ingestor.port),
    HTTP_HOST: config.host,
    LOG_FORMAT: 'json',
  }, 45_000);
  await waitReady(ingestor, 'ready on /readyz', async () => (await httpStatus(`${ingestorUrl}/readyz`)) === 200, 30_000);
  line('ingestor', '✓', `connected, writing to database ${config.bucket}; ${ingestorUrl}/readyz, /metrics`);

  // --- simulator ---------------------------------------------------------------------
  if (config.simulatorDevices > 0) {
    const simulator = launch(config, 'simulator', process.execPath, [...tsEntry('simulator/main.ts'), '--devices', String(config.simulatorDevices)], {
      ...baseEnv, MQTT_URL: mqttUrl, MQTT_USERNAME: 'gateway', MQTT_PASSWORD: config.gatewayPassword,
    });
    await new Promise((done) => setTimeout(done, 1000));
    if (simulator.child.exitCode !== null) throw new Error(`simulator exited: see ${show(simulator.logPath)}\n${lastLines(simulator.logPath)}`);
    line('simulator', '✓', `${config.simulatorDevices} devices publishing every 5 s (SIMULATOR_DEVICES=0 for none)`);
  } else {
    line('simulator', '–', 'not started: SIMULATOR_DEVICES=0');
  }

  // --- Grafana -----------------------------------------------------------------------
  const grafanaUrl = `http://${config.host}:${config.ports.grafana.port}`;
  if (grafanaWhy === undefined) {
    const ini = join(config.dir, 'grafana', 'grafana.ini');
    mkdirSync(join(config.dir, 'grafana'), { recursive: true });
    writeFileSync(ini, grafanaIni(config));
    const home = ['/usr/share/grafana', '/usr/local/share/grafana'].find((dir) => existsSync(dir)) ?? '/usr/share/grafana';
    const args = [...(grafanaServer === undefined ? ['server'] : []), '--homepath', home, '--config', ini];
    const grafana = launch(config, 'grafana', grafanaServer ?? grafanaCli!, args, {
      ...baseEnv,
      INFLUX_URL: influxUrl,
      INFLUX_BUCKET: config.bucket,
      INFLUX_READ_TOKEN: '',
      NOTIFIER_URL: `${notifierUrl}/grafana/webhook`,
      GRAFANA_DASHBOARDS_DIR: join(ROOT, 'grafana', 'dashboards'),
      GF_SECURITY_ADMIN_USER: config.grafanaAdminUser,
      GF_SECURITY_ADMIN_PASSWORD: config.grafanaAdminPassword,
    });
    await waitReady(grafana, '/api/health', async () => (await httpStatus(`${grafanaUrl}/api/health`)) === 200, 60_000);
    line('grafana', '✓', `${grafanaUrl} (${config.grafanaAdminUser} / GRAFANA_ADMIN_PASSWORD from .env)`);
  } else {
    line('grafana', '–', `not started: ${grafanaWhy} (the data is in InfluxDB; query it below)`);
  }

  const example = exampleQuery(config);
  process.stdout.write([
    '',
    'Where to look:',
    `  data        ${example.command}`,
    `  pipeline    curl -s ${ingestorUrl}/metrics | grep ^sensorflow_points`,
    `  MQTT        mosquitto_sub -h ${config.host} -p ${config.ports.mqtt.port} -u monitor -P '<MQTT_MONITOR_PASSWORD>' -t 'sensors/#' -v   (apt-get install mosquitto-clients)`,
    `  logs        tail -f ${show(join(config.dir, 'logs', 'ingestor.log'))} | npx pino-pretty`,
    ...(grafanaWhy === undefined ? [`  Grafana     ${grafanaUrl}`] : []),
    '',
    'Running. Ctrl-C stops everything.',
    '',
  ].join('\n'));
}

/** A port for influxd's backup/restore RPC listener, which nothing else uses. */
function freePort(host: string): Promise<number> {
  return new Promise((done, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : reject(new Error('no free port'))));
    });
  });
}

try {
  await main();
} catch (error) {
  if (!shuttingDown) {
    process.stderr.write(`stack: ${(error as Error).message}\n`);
    await shutdown(1);
  }
}

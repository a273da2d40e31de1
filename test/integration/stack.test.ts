/**
 * `npm run stack` for real: the development broker, influxd 1.x, setup, the
 * ingestor and the simulator, started as a user would (through npm), on free
 * ports in a temporary STACK_DIR. Data and presence must reach InfluxDB
 * within 30 s; the broker enforces the access rules with the stack's own
 * users (anonymous refused); Ctrl-C (SIGINT) must leave no process behind.
 * Also: a busy port is named with its holder, and `npm run setup` against a
 * real InfluxDB 1.x is idempotent.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { runSetup, type SetupConfig } from '../../influxdb/setup.ts';
import { freePort, isListening } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';
import { startInflux1 } from '../harness/services.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Every live descendant of `pid` (from /proc), zombies excluded. */
function descendants(pid: number): Set<number> {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z') parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // gone
    }
  }
  const found = new Set<number>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [child, parent] of parentOf) {
      if ((parent === pid || found.has(parent)) && !found.has(child)) {
        found.add(child);
        grew = true;
      }
    }
  }
  return found;
}

const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

async function query(url: string, influxql: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${url}/query?${new URLSearchParams({ db: 'iot', q: influxql, epoch: 'ms' }).toString()}`);
  const body = (await response.json()) as { results: { series?: { columns: string[]; values: unknown[][]; tags?: Record<string, string> }[] }[] };
  return body.results.flatMap((result) => (result.series ?? []).flatMap((series) =>
    series.values.map((values) => ({ ...series.tags, ...Object.fromEntries(series.columns.map((column, i) => [column, values[i]])) }))));
}

interface RunningStack {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

function startStack(env: Record<string, string>): RunningStack {
  let output = '';
  const child = spawn('npm', ['run', '--silent', 'stack'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('npm run stack', () => {
  test('data and presence in InfluxDB within 30 s, access rules enforced, Ctrl-C leaves no process behind', { timeout: 240_000 }, async () => {
    const dir = tempDir('sensorflow-stack-');
    const ports = { mqtt: await freePort(), influx: await freePort(), ingestor: await freePort(), notifier: await freePort(), grafana: await freePort() };
    // Per-device users besides the simulator's gateway (MQTT_DEVICES_FILE, as .env names it).
    const devicesFile = join(dir, 'devices.yaml');
    writeFileSync(devicesFile, 'devices:\n  - { username: dev-901, password: dev-901-secret }\n  - { username: dev-902, password: dev-902-secret }\n');
    const stack = startStack({
      MQTT_DEVICES_FILE: devicesFile,
      STACK_DIR: dir,
      STACK_MQTT_PORT: String(ports.mqtt),
      STACK_INFLUX_PORT: String(ports.influx),
      STACK_INGESTOR_PORT: String(ports.ingestor),
      STACK_NOTIFIER_PORT: String(ports.notifier),
      STACK_GRAFANA_PORT: String(ports.grafana),
      SIMULATOR_DEVICES: '5',
    });
    const clients: MqttClient[] = [];
    try {
      const started = Date.now();
      await waitFor('the stack to say it is running', () => {
        if (stack.child.exitCode !== null) throw new Error(`npm run stack exited ${stack.child.exitCode}:\n${stack.output()}`);
        return stack.output().includes('Running. Ctrl-C stops everything.') ? true : undefined;
      }, 120_000, 200);
      const ready = Date.now();
      const out = stack.output();
      for (const name of ['broker', 'influxdb', 'ingestor', 'simulator']) assert.match(out, new RegExp(`^  ${name} +✓ `, 'm'), `${name} status line:\n${out}`);
      assert.match(out, /^ {2}broker +✓ development broker on \S+ \(users monitor, gateway and 2 devices; anonymous refused/m);
      assert.match(out, /^ {2}grafana +[✓–] /m);
      assert.match(out, /database iot: created \(retention 30d\)/);
      const influx = `http://127.0.0.1:${ports.influx}`;
      assert.ok(out.includes(`curl -sG ${influx}/query --data-urlencode db=iot`), 'prints the command that runs the example query');

      // Data: every simulated device's telemetry, within 30 s of the stack being up.
      const devices = ['dev-001', 'dev-002', 'dev-003', 'dev-004', 'dev-005'];
      await waitFor('telemetry from the 5 simulated devices', async () => {
        const rows = await query(influx, 'SELECT count("temperature") FROM "telemetry" GROUP BY "device"');
        return devices.every((device) => rows.some((row) => row.device === device && Number(row.count) > 0)) ? true : undefined;
      }, 30_000, 500);
      const visibleMs = Date.now() - ready;
      // Presence: the broker's connect events and the devices' retained birth messages.
      await waitFor('presence points', async () => {
        const rows = await query(influx, 'SELECT * FROM "device_presence"');
        const from = (source: string): Set<unknown> => new Set(rows.filter((row) => row.source === source && row.online === 1).map((row) => row.device));
        return devices.every((device) => from('emqx').has(device) && from('lwt').has(device)) ? true : undefined;
      }, 30_000, 500);
      const sample = await query(influx, 'SELECT "temperature", "humidity", "battery", "location" FROM "telemetry" WHERE "device" = \'dev-001\' LIMIT 1');
      assert.equal(typeof sample[0]?.temperature, 'number');
      assert.match(String(sample[0]?.location), /^site-\d+$/);
      process.stdout.write(`# stack up in ${((ready - started) / 1000).toFixed(1)} s; data visible ${(visibleMs / 1000).toFixed(1)} s later\n`);

      // Access rules with the stack's users: anonymous and wrong passwords refused, devices keep to their own user name's topics, $SYS only for monitor.
      const url = `mqtt://127.0.0.1:${ports.mqtt}`;
      const refusal = (options: mqtt.IClientOptions): Promise<string> => mqtt.connectAsync(url, { reconnectPeriod: 0, ...options }).then(
        (client) => { clients.push(client); return 'connected'; },
        (error: Error) => error.message,
      );
      assert.match(await refusal({ clientId: 'dev-900' }), /Bad username or password|Not authorized/, 'anonymous refused');
      assert.match(await refusal({ clientId: 'dev-900', username: 'gateway', password: 'guess' }), /Bad username or password/);
      assert.match(await refusal({ clientId: 'dev-900', username: 'dev-901', password: 'dev-902-secret' }), /Bad username or password/);
      const monitor = await mqtt.connectAsync(url, { clientId: 'acl-monitor', reconnectPeriod: 0, username: 'monitor', password: 'monitor-dev-password' });
      clients.push(monitor);
      const seen: string[] = [];
      const sys: string[] = [];
      monitor.on('message', (topic) => (topic.startsWith('$SYS/') ? sys.push(topic) : seen.push(topic)));
      await monitor.subscribeAsync(['sensors/+/dev-901/#', 'sensors/+/dev-902/#', '$SYS/brokers/+/clients/+/connected'], { qos: 1 });
      // A device may not read $SYS: the broker closes the connection, as EMQX 5.8.6 does with
      // deny_action = disconnect (emqx_channel:do_check_sub_authzs). Probed first, on its own
      // connection: a device's client id is its user name, so a second one would take over the first.
      const prober = await mqtt.connectAsync(url, { clientId: 'dev-901', reconnectPeriod: 0, username: 'dev-901', password: 'dev-901-secret' });
      clients.push(prober);
      const proberClosed = new Promise<'closed'>((resolve) => prober.once('close', () => resolve('closed')));
      const sysGrant = await Promise.race([prober.subscribeAsync('$SYS/#').then(() => 'granted', (error: { packet?: unknown }) => (error.packet === undefined ? 'closed' : 'SUBACK')), proberClosed]);
      assert.equal(sysGrant, 'closed', 'a device may not read $SYS');
      // The client id it picks does not matter: the identity is the user name.
      const deviceA = await mqtt.connectAsync(url, { clientId: 'dev-902', reconnectPeriod: 0, username: 'dev-901', password: 'dev-901-secret' });
      clients.push(deviceA);
      await waitFor('the monitor sees dev-901 connect on $SYS', () => (sys.some((topic) => topic.endsWith('/dev-901/connected')) ? true : undefined), 5000, 20);
      await deviceA.publishAsync('sensors/lab/dev-901/telemetry', '{"temperature":1}', { qos: 1 });
      await waitFor('dev-901 publishes as itself', () => (seen.includes('sensors/lab/dev-901/telemetry') ? true : undefined), 5000, 20);
      const closed = new Promise<void>((resolve) => deviceA.once('close', () => resolve()));
      deviceA.publish('sensors/lab/dev-902/telemetry', '{"temperature":2}', { qos: 1 });
      await closed;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(seen, ['sensors/lab/dev-901/telemetry'], 'dev-901 could not publish as dev-902');

      // The image's health check program, pointed at the stack: HTTP for the ingestor, MQTT for the simulator.
      const healthcheck = (env: Record<string, string>): number | null => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'common', 'healthcheck.ts')], {
        cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000,
      }).status;
      assert.equal(healthcheck({ HEALTHCHECK_URL: `http://127.0.0.1:${ports.ingestor}/healthz` }), 0);
      assert.equal(healthcheck({ HEALTHCHECK_URL: `http://127.0.0.1:${ports.influx}/nothing-here` }), 1);
      assert.equal(healthcheck({ HEALTHCHECK_MQTT: 'true', MQTT_URL: url, MQTT_USERNAME: 'gateway', MQTT_PASSWORD: 'gateway-dev-password' }), 0);
      assert.equal(healthcheck({ HEALTHCHECK_MQTT: 'true', MQTT_URL: url, MQTT_USERNAME: 'gateway', MQTT_PASSWORD: 'wrong' }), 1);

      // Ctrl-C: everything stops, nothing is left.
      const family = descendants(stack.child.pid!);
      assert.ok(family.size >= 4, `expected the stack's processes under npm, found ${[...family].join(', ')}`);
      stack.child.kill('SIGINT');
      const code = await Promise.race([stack.exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 90_000).unref())]);
      assert.equal(code, 0, stack.output());
      const stopped = stack.output();
      for (const name of ['simulator', 'ingestor', 'influxdb', 'broker']) assert.match(stopped, new RegExp(`^  ${name} +– stopped`, 'm'));
      assert.deepEqual([...family].filter(alive), [], 'processes left behind');
      for (const port of Object.values(ports)) assert.equal(await isListening(port), false, `port ${port} still open`);
      assert.equal(existsSync(join(dir, 'stack.pid')), false);
      // The ingestor drained before InfluxDB stopped: its log says so.
      assert.match(readFileSync(join(dir, 'logs', 'ingestor.log'), 'utf8'), /"unsentBytes":0,?[^\n]*"msg":"stopped"|"msg":"stopped"[^\n]*"unsentBytes":0/);
    } finally {
      for (const client of clients) client.end(true);
      if (stack.child.exitCode === null) {
        stack.child.kill('SIGINT');
        await stack.exited;
      }
    }
  });

  test('a port in use stops it before anything starts, naming the holder and the variable to change', { timeout: 60_000 }, async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const stack = startStack({ STACK_DIR: tempDir('sensorflow-stack-busy-'), STACK_MQTT_PORT: String(port), STACK_INFLUX_PORT: String(await freePort()), STACK_INGESTOR_PORT: String(await freePort()) });
      const code = await stack.exited;
      assert.equal(code, 2);
      assert.match(stack.output(), new RegExp(`^stack: port ${port} \\(MQTT broker\\) is in use by pid ${process.pid}: \\S*node[^\\n]*: stop that, or choose another port, e\\.g\\. STACK_MQTT_PORT=${port + 10000} npm run stack$`, 'm'));
      assert.doesNotMatch(stack.output(), /✓/, 'nothing was started');
    } finally {
      holder.close();
    }
  });
});

describe('npm run setup against InfluxDB 1.x', () => {
  test('creates the database with its retention, finds it next time, changes the retention when told', { timeout: 60_000 }, async () => {
    const influx = await startInflux1();
    try {
      const config: SetupConfig = {
        api: 'v1', url: influx.url, org: 'unused', bucket: 'plant', retentionSeconds: 30 * 86_400, adminToken: undefined,
        username: undefined, password: undefined, tokenDir: '', waitSeconds: 5,
      };
      const run = async (overrides: Partial<SetupConfig> = {}): Promise<string[]> => {
        const lines: string[] = [];
        await runSetup({ ...config, ...overrides }, (text) => lines.push(text));
        return lines;
      };
      assert.deepEqual(await run(), ['setup: database plant: created (retention 30d)']);
      assert.deepEqual(await run(), ['setup: database plant: found (retention 30d (policy autogen))']);
      assert.deepEqual(await run({ retentionSeconds: 7 * 86_400 }), ['setup: database plant: changed (retention 30d → 1w (policy autogen))']);
      const policies = await influx.query('SHOW RETENTION POLICIES ON "plant"');
      assert.deepEqual(policies.map((row) => [row.name, row.duration, row.default]), [['autogen', '168h0m0s', true]]);
      assert.deepEqual(await run({ retentionSeconds: 0 }), ['setup: database plant: changed (retention 1w → infinite (policy autogen))']);
      assert.deepEqual(await run({ retentionSeconds: 0 }), ['setup: database plant: found (retention infinite (policy autogen))']);
    } finally {
      await influx.stop();
    }
  });
});

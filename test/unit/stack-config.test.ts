/**
 * `npm run stack`'s decisions and the files it writes (scripts/stack/), the
 * ingestor's HTTP_HOST, and the log format choice. Pure; the real run is in
 * test/integration/stack.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { parseUsers, authenticate } from '../../broker/dev/users.ts';
import { ConfigError, loadConfig } from '../../ingestor/config.ts';
import { logFormat } from '../../ingestor/logger.ts';
import { devBrokerUsers, exampleQuery, grafanaIni, influxdConfig, loadStackConfig, mosquittoConfig, StackConfigError } from '../../scripts/stack/config.ts';
import { listeningInodes } from '../../scripts/stack/ports.ts';

const ROOT = '/home/someone/sensorflow';
const REPO = join(import.meta.dirname, '..', '..');

describe('npm run stack configuration', () => {
  test('defaults: loopback, data under the project, the usual ports, 20 devices, the development broker', () => {
    const config = loadStackConfig({}, ROOT);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.dir, `${ROOT}/data/stack`);
    assert.deepEqual(Object.values(config.ports).map((p) => p.port), [1883, 8086, 8080, 8090, 3000]);
    assert.equal(config.broker, 'dev');
    assert.equal(config.simulatorDevices, 20);
    assert.equal(loadStackConfig({ STACK_DIR: 'elsewhere/x' }, ROOT).dir, `${ROOT}/elsewhere/x`);
    assert.equal(loadStackConfig({ STACK_DIR: '/srv/sf' }, ROOT).dir, '/srv/sf');
  });

  test('bad settings name the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ STACK_MQTT_PORT: '70000' }, /^STACK_MQTT_PORT="70000": expected a port number/],
      [{ STACK_INFLUX_PORT: '1883' }, /^STACK_INFLUX_PORT=1883: already used by STACK_MQTT_PORT/],
      [{ STACK_BROKER: 'emqx' }, /^STACK_BROKER="emqx": expected dev/],
      [{ SIMULATOR_DEVICES: 'many' }, /^SIMULATOR_DEVICES="many"/],
      [{ STACK_HOST: 'http://x' }, /^STACK_HOST="http:\/\/x"/],
    ];
    for (const [env, message] of cases) assert.throws(() => loadStackConfig(env, ROOT), (error: unknown) => error instanceof StackConfigError && message.test(error.message));
  });

  test('influxd: every directory under STACK_DIR, HTTP on the stack host only, HTTP log and _internal off', () => {
    const config = loadStackConfig({ STACK_INFLUX_PORT: '18086' }, ROOT);
    const text = influxdConfig(config, 41234);
    for (const key of ['dir', 'wal-dir']) {
      for (const match of text.matchAll(new RegExp(`^ {2}${key} = "([^"]+)"`, 'gm'))) assert.ok(match[1]!.startsWith(`${ROOT}/data/stack/influxdb/`), match[0]);
    }
    assert.match(text, /^bind-address = "127\.0\.0\.1:41234"$/m);
    assert.match(text, /^\[http\]\n {2}bind-address = "127\.0\.0\.1:18086"\n {2}log-enabled = false$/m);
    assert.match(text, /^\[monitor\]\n {2}store-enabled = false$/m);
  });

  test('the development broker users: no anonymous devices, passwords from .env kept exactly, a user per device from MQTT_DEVICES_FILE', () => {
    const config = loadStackConfig({ MQTT_MONITOR_PASSWORD: 'a: "b" #c', MQTT_GATEWAY_PASSWORD: "it's", MQTT_DEVICES_FILE: 'broker/emqx/devices.example.yaml' }, ROOT);
    assert.equal(config.devicesFile, join(ROOT, 'broker', 'emqx', 'devices.example.yaml'), 'relative to the project');
    const users = parseUsers('broker-users.yaml', devBrokerUsers(config, [{ username: 'dev-7', password: 'p: #7' }]));
    assert.equal(authenticate(users, undefined, undefined), undefined, 'anonymous refused');
    assert.deepEqual(authenticate(users, 'monitor', Buffer.from('a: "b" #c')), { username: 'monitor', role: 'monitor' });
    assert.deepEqual(authenticate(users, 'gateway', Buffer.from("it's")), { username: 'gateway', role: 'gateway' });
    assert.deepEqual(authenticate(users, 'dev-7', Buffer.from('p: #7')), { username: 'dev-7', role: 'device' });
    assert.equal(loadStackConfig({}, ROOT).devicesFile, undefined);
  });

  test('Mosquitto: loopback listener, no anonymous clients, the repo ACL, persistence under STACK_DIR; `user root` only as root', () => {
    const config = loadStackConfig({ STACK_MQTT_PORT: '11883' }, ROOT);
    const text = mosquittoConfig(config, false);
    assert.match(text, /^listener 11883 127\.0\.0\.1$/m);
    assert.match(text, /^allow_anonymous false$/m);
    assert.match(text, new RegExp(`^acl_file ${ROOT}/broker/mosquitto/acl$`, 'm'));
    assert.match(text, new RegExp(`^persistence_location ${ROOT}/data/stack/mosquitto/$`, 'm'));
    assert.doesNotMatch(text, /^user /m);
    assert.match(mosquittoConfig(config, true), /^user root$/m);
  });

  test('Grafana: this repo\'s provisioning, data under STACK_DIR, loopback', () => {
    const text = grafanaIni(loadStackConfig({}, ROOT));
    assert.match(text, new RegExp(`^provisioning = ${ROOT}/grafana/provisioning$`, 'm'));
    assert.match(text, new RegExp(`^data = ${ROOT}/data/stack/grafana/data$`, 'm'));
    assert.match(text, /^http_addr = 127\.0\.0\.1$/m);
  });

  test('the printed query command runs the printed query against the stack\'s InfluxDB', () => {
    const { query, command } = exampleQuery(loadStackConfig({ STACK_INFLUX_PORT: '18086', INFLUX_BUCKET: 'plant' }, ROOT));
    assert.equal(command, `curl -sG http://127.0.0.1:18086/query --data-urlencode db=plant --data-urlencode 'q=${query}'`);
    assert.doesNotMatch(query, /'/, 'the query fits in single quotes');
  });

  test('who holds a port: listening sockets from /proc/net/tcp', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000   110        0 31337 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:075B 0100007F:D431 01 00000000:00000000 00:00000000 00000000   110        0 31338 1 0000000000000000 100 0 0 10 0',
      '   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    const read = (path: string): string => {
      if (path === '/proc/net/tcp') return table;
      throw new Error('no tcp6');
    };
    assert.deepEqual(listeningInodes(1883, read), ['31337'], 'only the LISTEN socket, not the established one');
    assert.deepEqual(listeningInodes(8080, read), ['4242']);
    assert.deepEqual(listeningInodes(8086, read), []);
  });
});

describe('the ingestor outside a container', () => {
  test('HTTP_HOST: loopback by default, validated', () => {
    assert.equal(loadConfig({}).pipeline.httpHost, '127.0.0.1');
    assert.equal(loadConfig({ HTTP_HOST: '0.0.0.0' }).pipeline.httpHost, '0.0.0.0');
    assert.throws(() => loadConfig({ HTTP_HOST: 'http://0.0.0.0:8080/' }), (error: unknown) => error instanceof ConfigError && error.variable === 'HTTP_HOST');
  });

  test('logs: human-readable on a terminal, JSON otherwise, LOG_FORMAT decides when set', () => {
    assert.equal(logFormat({}, true), 'pretty');
    assert.equal(logFormat({}, false), 'json');
    assert.equal(logFormat({ LOG_FORMAT: 'json' }, true), 'json');
    assert.equal(logFormat({ LOG_FORMAT: 'pretty' }, false), 'pretty');
  });
});

// The YAML the stack writes is YAML a human can read back.
test('broker users file parses as plain YAML too', () => {
  const document = parse(devBrokerUsers(loadStackConfig({}, ROOT), [])) as { users: { username: string }[] };
  assert.deepEqual(document.users.map((user) => user.username), ['monitor', 'gateway']);
});

describe('SENSORFLOW_ENV=production at the entry points', () => {
  // Each program refuses before touching the network: exit 2, one line naming the variable.
  const run = (entry: string, env: Record<string, string>): { status: number | null; stderr: string } => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, entry)], {
      cwd: REPO, env: { PATH: process.env.PATH ?? '', SENSORFLOW_ENV: 'production', ...env }, encoding: 'utf8', timeout: 30_000,
    });
    return { status: result.status, stderr: result.stderr };
  };

  test('the ingestor, setup and emqx-users refuse the development defaults from .env', () => {
    const cases: [string, Record<string, string>, string][] = [
      ['ingestor/main.ts', { MQTT_PASSWORD: 'monitor-dev-password' }, 'sensorflow: refusing to start: SENSORFLOW_ENV=production but MQTT_PASSWORD holds a development default'],
      ['influxdb/setup.ts', { INFLUX_ADMIN_TOKEN: 'sensorflow-dev-admin-token' }, 'setup: refusing to start: SENSORFLOW_ENV=production but INFLUX_ADMIN_TOKEN holds a development default'],
      ['broker/emqx/bootstrap.ts', { MQTT_MONITOR_PASSWORD: 'a-real-one', MQTT_GATEWAY_PASSWORD: 'gateway-dev-password' }, 'emqx-users: refusing to start: SENSORFLOW_ENV=production but MQTT_GATEWAY_PASSWORD holds a development default'],
    ];
    for (const [entry, env, message] of cases) {
      const { status, stderr } = run(entry, env);
      assert.equal(status, 2, `${entry}: ${stderr}`);
      assert.equal(stderr.trim().split('\n').length, 1, `${entry} says it in one line: ${stderr}`);
      assert.ok(stderr.startsWith(message), `${entry}: ${stderr}`);
    }
  });
});

/**
 * The certificates scripts/make-certs.sh makes for `mqtts://` in the compose
 * stack, used for real: a Mosquitto TLS listener (standing in for EMQX's 8883,
 * which cannot run here: a client certificate required, its CN the user
 * name, the shipped ACL) with the script's server certificate, the ingestor
 * with `monitor`'s, the simulator with `gateway`'s (publishing for three
 * devices, as it does in compose), and a device with its own. This one
 * Mosquitto listener trusts both of the script's CAs (the devices' ca.crt and
 * services-ca.crt), as EMQX's listeners together do; that each EMQX listener
 * trusts only its own CA is checked with a TLS server per listener below.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SHIPPED_MOSQUITTO_ACL, tryConnect } from '../harness/auth.ts';
import { REPO_ROOT, startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { startProcess, waitFor } from '../harness/process.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';

const NOT_AUTHORIZED = 135;

describe('scripts/make-certs.sh certificates on a real TLS broker', () => {
  let dir: string;
  let broker: Mosquitto;
  let influx: Influx1;
  let ingestor: Ingestor;
  const file = (name: string): string => join(dir, name);
  const url = (): string => `mqtts://localhost:${broker.port}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-make-certs-'));
    const made = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'make-certs.sh'), 'dev-001'], { env: { ...process.env, CERTS_DIR: dir }, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    writeFileSync(file('both-cas.crt'), readFileSync(file('ca.crt'), 'utf8') + readFileSync(file('services-ca.crt'), 'utf8'));
    [broker, influx] = await Promise.all([
      startMosquitto({
        extraConfig: [
          `cafile ${file('both-cas.crt')}`, `certfile ${file('server.crt')}`, `keyfile ${file('server.key')}`,
          'require_certificate true', 'use_identity_as_username true', `acl_file ${SHIPPED_MOSQUITTO_ACL}`,
        ],
      }),
      startInflux1(),
    ]);
    await influx.query('CREATE DATABASE iot');
    ingestor = startIngestor({
      MQTT_URL: url(), MQTT_CA_FILE: file('ca.crt'), MQTT_CERT_FILE: file('monitor.crt'), MQTT_KEY_FILE: file('monitor.key'),
      INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'iot', FLUSH_INTERVAL_MS: '100',
    });
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
  });

  after(async () => {
    await ingestor.stop();
    ingestor.cleanup();
    await Promise.all([broker.stop(), influx.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the ingestor (monitor) stores what the simulator (gateway) publishes for three devices', async () => {
    const simulator = startProcess('simulator-gateway-tls', process.execPath, [
      '--import', import.meta.resolve('tsx'), join(REPO_ROOT, 'simulator', 'main.ts'),
      '--url', url(), '--ca', file('ca.crt'), '--cert', file('gateway.crt'), '--key', file('gateway.key'),
      '--devices', '3', '--interval-ms', '200', '--duration', '2', '--churn-per-hour', '0', '--quiet',
    ], { cwd: REPO_ROOT });
    assert.equal(await simulator.exited, 0, simulator.log());
    const summary = JSON.parse(simulator.log().trim().split('\n').at(-1)!) as { sent: number; errors: number };
    assert.equal(summary.errors, 0);
    const rows = await waitFor(`${summary.sent} readings in InfluxDB`, async () => {
      const stored = await influx.query('SELECT device, temperature FROM telemetry', 'iot');
      return stored.length === summary.sent ? stored : undefined;
    });
    assert.deepEqual([...new Set(rows.map((row) => row.device))].sort(), ['dev-001', 'dev-002', 'dev-003']);
  });

  test('a device with its own certificate publishes as itself only; without a certificate nothing connects', async () => {
    const pem = (name: string): Buffer => readFileSync(file(name));
    const device = await tryConnect(url(), { ca: pem('ca.crt'), cert: pem('dev-001.crt'), key: pem('dev-001.key'), clientId: 'dev-002' });
    if (device instanceof Error) throw device;
    await device.publishAsync('sensors/lab/dev-001/telemetry', JSON.stringify({ temperature: 30.5 }), { qos: 1 });
    const refused = await device.publishAsync('sensors/lab/dev-002/telemetry', JSON.stringify({ temperature: 99.9 }), { qos: 1 }).then(() => 0, (error: { code?: number }) => error.code);
    assert.equal(refused, NOT_AUTHORIZED, 'dev-001\'s certificate, dev-002\'s client id, dev-002\'s topic');
    await device.endAsync(true);
    await waitFor('dev-001\'s reading', async () => ((await influx.query('SELECT temperature FROM telemetry WHERE temperature = 30.5', 'iot')).length === 1 ? true : undefined));
    assert.deepEqual(await influx.query('SELECT temperature FROM telemetry WHERE temperature = 99.9', 'iot'), []);

    const anonymous = await tryConnect(url(), { ca: pem('ca.crt'), clientId: 'nobody', connectTimeout: 3000 });
    assert.ok(anonymous instanceof Error, 'no client certificate: refused');
  });

  test('the image\'s health check (the simulator\'s in docker-compose.tls.yml) connects with the same files', () => {
    const healthcheck = (env: Record<string, string>): { status: number | null; stderr: string } => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'common', 'healthcheck.ts')], {
        cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HEALTHCHECK_MQTT: 'true', MQTT_URL: url(), MQTT_USERNAME: 'gateway', ...env }, encoding: 'utf8', timeout: 20_000,
      });
      return { status: result.status, stderr: result.stderr };
    };
    const gateway = { MQTT_CA_FILE: file('ca.crt'), MQTT_CERT_FILE: file('gateway.crt'), MQTT_KEY_FILE: file('gateway.key') };
    assert.deepEqual(healthcheck(gateway), { status: 0, stderr: '' });
    const withoutCertificate = healthcheck({ MQTT_CA_FILE: file('ca.crt') });
    assert.equal(withoutCertificate.status, 1);
    assert.match(withoutCertificate.stderr, /^unhealthy: mqtts:\/\/localhost:\d+: /);
  });

  test('each EMQX TLS listener trusts only its own CA: no service certificate on 8883, no device certificate on 8884/8885', async () => {
    // A TLS server per listener, configured as docker-compose.tls.yml configures EMQX's
    // (verify_peer, fail_if_no_peer_cert, cacertfile): ca.crt on 8883, services-ca.crt on 8884/8885.
    const pem = (name: string): Buffer => readFileSync(file(name));
    const handshake = async (trusted: string, client: string): Promise<'accepted' | 'refused'> => {
      const server = createServer({ cert: pem('server.crt'), key: pem('server.key'), ca: pem(trusted), requestCert: true, rejectUnauthorized: true }, (socket) => socket.end());
      const accepted = new Promise<'accepted'>((resolve) => server.once('secureConnection', () => resolve('accepted')));
      const refused = new Promise<'refused'>((resolve) => server.once('tlsClientError', () => resolve('refused')));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: pem('ca.crt'), cert: pem(`${client}.crt`), key: pem(`${client}.key`) });
      socket.on('error', () => {});
      const verdict = await Promise.race([accepted, refused]);
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return verdict;
    };
    assert.equal(await handshake('ca.crt', 'dev-001'), 'accepted', '8883: a device');
    assert.equal(await handshake('ca.crt', 'monitor'), 'refused', '8883: monitor.crt (would read everything without a password)');
    assert.equal(await handshake('ca.crt', 'gateway'), 'refused', '8883: gateway.crt (would publish as every device without a password)');
    assert.equal(await handshake('services-ca.crt', 'monitor'), 'accepted', '8884: monitor');
    assert.equal(await handshake('services-ca.crt', 'gateway'), 'accepted', '8885: gateway');
    assert.equal(await handshake('services-ca.crt', 'dev-001'), 'refused', '8884/8885: a device certificate');
  });
});

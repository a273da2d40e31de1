/**
 * Mutual TLS on a real Mosquitto 2 listener that demands client certificates
 * (require_certificate, use_identity_as_username, the shipped ACL), with
 * certificates made by `openssl` for this run (test/harness/certs.ts):
 * - the ingestor (CN=monitor) stores what the simulator (CN=dev-001) sends;
 * - no client certificate, an expired one, or one from another CA, is
 *   refused, and the log says which;
 * - a broker certificate that has expired or names another host gives one
 *   clear error line; retries back off and each names the reason.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makePki, mosquittoTlsConfig, type TestPki } from '../harness/certs.ts';
import { SHIPPED_MOSQUITTO_ACL } from '../harness/auth.ts';
import { REPO_ROOT, startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, waitFor } from '../harness/process.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';

const TSX = import.meta.resolve('tsx');
const SIMULATOR = join(REPO_ROOT, 'simulator', 'main.ts');
const PINO_ERROR = 50;

type LogLine = Record<string, unknown>;

describe('mutual TLS on Mosquitto', () => {
  let pki: TestPki;
  let broker: Mosquitto;
  let influx: Influx1;
  /** Listeners on the same broker whose certificate has expired / names another host. */
  let expiredPort: number;
  let wrongHostPort: number;
  const ingestors: Ingestor[] = [];

  const urlFor = (port: number): string => `mqtts://127.0.0.1:${port}`;

  function ingestor(env: Record<string, string>, name: string): Ingestor {
    const started = startIngestor({ INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'iot', FLUSH_INTERVAL_MS: '100', MQTT_CA_FILE: pki.ca, ...env }, name);
    ingestors.push(started);
    return started;
  }

  const clientCert = (commonName: string): Record<string, string> => {
    const pair = pki.client(commonName);
    return { MQTT_CERT_FILE: pair.cert, MQTT_KEY_FILE: pair.key };
  };

  before(async () => {
    pki = makePki();
    [expiredPort, wrongHostPort] = [await freePort(), await freePort()];
    const listener = (port: number, server: TestPki['server']): string[] => [`listener ${port} 127.0.0.1`, ...mosquittoTlsConfig(pki, server)];
    [broker, influx] = await Promise.all([
      startMosquitto({
        extraConfig: [
          ...mosquittoTlsConfig(pki),
          `acl_file ${SHIPPED_MOSQUITTO_ACL}`,
          ...listener(expiredPort, pki.serverExpired),
          ...listener(wrongHostPort, pki.serverWrongHost),
        ],
      }),
      startInflux1(),
    ]);
    await influx.query('CREATE DATABASE iot');
  });

  after(async () => {
    for (const started of ingestors) {
      await started.stop();
      started.cleanup();
    }
    await Promise.all([broker.stop(), influx.stop()]);
    pki.remove();
  });

  test('the ingestor (CN=monitor) stores what the simulator (CN=dev-001) publishes, both with client certificates', async () => {
    const monitor = ingestor({ MQTT_URL: urlFor(broker.port), ...clientCert('monitor') }, 'ingestor-mtls');
    await waitUntilSubscribed(monitor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
    const device = pki.client('dev-001');
    const simulator = startProcess('simulator-mtls', process.execPath, [
      '--import', TSX, SIMULATOR, '--url', urlFor(broker.port), '--ca', pki.ca, '--cert', device.cert, '--key', device.key,
      '--devices', '1', '--interval-ms', '100', '--duration', '2', '--churn-per-hour', '0', '--quiet',
    ], { cwd: REPO_ROOT });
    assert.equal(await simulator.exited, 0, simulator.log());
    const summary = JSON.parse(simulator.log().trim().split('\n').at(-1)!) as { sent: number; errors: number };
    assert.equal(summary.errors, 0);
    assert.ok(summary.sent >= 10, `readings every 100 ms for 2 s (${summary.sent})`);

    const rows = await waitFor(`${summary.sent} readings in InfluxDB`, async () => {
      const stored = await influx.query('SELECT device, location, temperature FROM telemetry', 'iot');
      return stored.length === summary.sent ? stored : undefined;
    });
    assert.deepEqual(new Set(rows.map((row) => `${row.device as string}@${row.location as string}`)), new Set(['dev-001@site-1']));
    const presence = await waitFor('online then offline', async () => {
      const stored = await influx.query('SELECT online FROM device_presence WHERE device = \'dev-001\'', 'iot');
      return stored.length === 2 ? stored : undefined;
    });
    assert.deepEqual(presence.map((row) => row.online), [1, 0]);
  });

  test('no client certificate, an expired one, or one from another CA, is refused and the log names the reason', async () => {
    const withoutCert = ingestor({ MQTT_URL: urlFor(broker.port) }, 'ingestor-no-cert');
    const expired = pki.clientExpired('monitor');
    const withExpiredCert = ingestor({ MQTT_URL: urlFor(broker.port), MQTT_CERT_FILE: expired.cert, MQTT_KEY_FILE: expired.key }, 'ingestor-expired-cert');
    const untrusting = ingestor({ MQTT_URL: urlFor(broker.port), ...clientCert('monitor'), MQTT_CA_FILE: pki.otherCa }, 'ingestor-wrong-ca');
    const stranger = pki.clientOfOtherCa('dev-002');
    const simulator = startProcess('simulator-other-ca', process.execPath, [
      '--import', TSX, SIMULATOR, '--url', urlFor(broker.port), '--ca', pki.ca, '--cert', stranger.cert, '--key', stranger.key,
      '--devices', '1', '--duration', '5', '--churn-per-hour', '0',
    ], { cwd: REPO_ROOT });

    const noCert = await withoutCert.waitForLog('the missing certificate', (line) => line.level === PINO_ERROR);
    assert.equal(noCert.code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    assert.match(noCert.msg as string, /the broker requires a client certificate and we sent none .*: set MQTT_CERT_FILE and MQTT_KEY_FILE/);
    const expiredCert = await withExpiredCert.waitForLog('the expired client certificate', (line) => line.level === PINO_ERROR);
    assert.equal(expiredCert.code, 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED');
    assert.match(expiredCert.msg as string, /the broker refused our client certificate: it has expired .*: renew the certificate in MQTT_CERT_FILE/);
    const unknownCa = await untrusting.waitForLog('the untrusted broker', (line) => line.level === PINO_ERROR);
    assert.equal(unknownCa.code, 'SELF_SIGNED_CERT_IN_CHAIN');
    assert.match(unknownCa.msg as string, /not signed by a CA we trust \(unknown CA\).*: set MQTT_CA_FILE/);

    assert.equal(await simulator.exited, 1, 'never connected: exit 1');
    // Event lines start after a carriage return that may follow a progress line.
    const events = simulator.log().split('\n').filter((line) => line.includes('"event":"connect_error"')).map((line) => line.slice(line.indexOf('{"time"')));
    assert.equal(events.length, 1, `one line for the cause, not one per retry:\n${simulator.log()}`);
    const event = JSON.parse(events[0]!) as Record<string, unknown>;
    assert.equal(event.code, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    assert.match(event.cause as string, /the broker does not trust our client certificate \(unknown CA\)/);
    assert.match(event.hint as string, /--cert and --key must be signed by the CA in the broker's cafile/);
    const summary = JSON.parse(simulator.log().trim().split('\n').at(-1)!) as { errors: number; sent: number; lastConnectError: string };
    assert.ok(summary.errors >= 2, `it kept retrying (${summary.errors} errors)`);
    assert.equal(summary.sent, 0);
    assert.equal(summary.lastConnectError, 'the broker does not trust our client certificate (unknown CA) (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA)');
    for (const refused of [withoutCert, withExpiredCert, untrusting]) {
      assert.equal(refused.logLines().filter((line) => line.msg === 'connected to the MQTT broker').length, 0);
    }
  });

  test('an expired broker certificate and one for another host: one clear error each, then quieter retries that still say why', async () => {
    const cases = [
      { port: expiredPort, code: 'CERT_HAS_EXPIRED', cause: /the broker's certificate has expired \(CERT_HAS_EXPIRED\): renew the broker's certificate/ },
      { port: wrongHostPort, code: 'ERR_TLS_CERT_ALTNAME_INVALID', cause: /the broker's certificate does not match the host \(hostname mismatch\).*MQTT_URL/ },
    ];
    const running = cases.map((c) => ({ ...c, ingestor: ingestor({ MQTT_URL: urlFor(c.port), ...clientCert('monitor') }, `ingestor-${c.code}`) }));
    await Promise.all(running.map(async ({ ingestor: started, code, cause }) => {
      // Three attempts, so the repeats (and the backoff between them) are seen.
      await started.waitForLog('the third reconnection', (line) => line.msg === 'reconnecting to the MQTT broker' && line.attempt === 3, 20_000);
      const lines = started.logLines();
      const errors = lines.filter((line: LogLine) => line.level === PINO_ERROR);
      assert.equal(errors.length, 1, `one error line, not one per attempt: ${JSON.stringify(errors)}`);
      assert.equal(errors[0]!.code, code);
      assert.match(errors[0]!.msg as string, cause);
      const retries = lines.filter((line) => line.msg === 'reconnecting to the MQTT broker');
      assert.deepEqual(retries.map((line) => line.lastError), retries.map(() => code), 'every retry names the reason');
      // Capped exponential backoff: attempt n waits between 2ⁿ⁻¹/2 and 2ⁿ⁻¹ seconds.
      assert.ok((retries[0]!.delayMs as number) <= 1000 && (retries[2]!.delayMs as number) >= 2000, JSON.stringify(retries.map((line) => line.delayMs)));
    }));
  });
});

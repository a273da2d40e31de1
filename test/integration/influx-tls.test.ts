/**
 * TLS to InfluxDB, against a real InfluxDB 1.x serving https (`[http]
 * https-enabled`) and VictoriaMetrics with `-tls` (the v2 write API), with
 * certificates made by `openssl` for this run (test/harness/certs.ts):
 * - `npm run setup` (InfluxDB 1.x for real, InfluxDB 2's API through its
 *   stand-in) and the ingestor trust InfluxDB through INFLUX_CA_FILE, and
 *   every point lands, exactly;
 * - without the CA, with an expired certificate, or with one for another
 *   host, the ingestor stays up, keeps the data, logs ONE line naming the
 *   cause and the setting to fix (not one per retry), and /readyz says it;
 *   once the certificate is fixed, everything kept is written.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { explainFailure, runSetup as runSetupInProcess, type SetupConfig } from '../../influxdb/setup.ts';
import { makePki, type TestPki } from '../harness/certs.ts';
import { startInflux2StandIn } from '../harness/influx2-standin.ts';
import { makeFleet, pointKey } from '../harness/fleet.ts';
import { REPO_ROOT, startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { startInflux1, startMosquitto, startVictoria, tlsFiles, type Influx1, type Mosquitto } from '../harness/services.ts';
import { assertSameDataset, readFleetFromInflux } from '../harness/verify.ts';

const TSX = import.meta.resolve('tsx');
const SETUP = join(REPO_ROOT, 'influxdb', 'setup.ts');
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3600 * 1000;
const PINO_ERROR = 50;

type LogLine = Record<string, unknown>;

/** `npm run setup` as a process, with only the given environment. */
async function runSetup(env: Record<string, string>): Promise<{ code: number | string; output: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'sensorflow-setup-'));
  try {
    const setup = startProcess('setup-tls', process.execPath, ['--import', TSX, SETUP], { cwd, env: { PATH: process.env.PATH ?? '', SETUP_WAIT_S: '20', ...env } });
    const code = await setup.exited;
    return { code, output: setup.log() };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

async function readyz(port: number): Promise<{ ready: boolean; reasons: string[]; warnings: string[] }> {
  return (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { ready: boolean; reasons: string[]; warnings: string[] };
}

async function writeRetries(port: number): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^sensorflow_write_retries_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

describe('TLS to InfluxDB', () => {
  let pki: TestPki;
  let broker: Mosquitto;
  let influx: Influx1;
  const running: Ingestor[] = [];

  /** The ingestor writing to the TLS InfluxDB over v1, with /readyz and /metrics on a free port; retries fast so repeats are seen. */
  async function ingestor(db: string, env: Record<string, string>, name: string): Promise<{ ingestor: Ingestor; httpPort: number }> {
    const httpPort = await freePort();
    const started = startIngestor({
      MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: db, FLUSH_INTERVAL_MS: '100',
      WRITE_RETRY_MAX_MS: '200', HTTP_PORT: String(httpPort), ...env,
    }, name);
    running.push(started);
    await waitUntilSubscribed(started, ['sensors/+/+/telemetry']);
    return { ingestor: started, httpPort };
  }

  async function publishFleet(location: string): Promise<ReturnType<typeof makeFleet>> {
    const fleet = makeFleet(5, 20, BASE_MS, [location]);
    const publisher = await connectPublisher(broker.url);
    await publishAll(publisher, fleet.messages);
    await publisher.endAsync();
    return fleet;
  }

  /** Until `count` more writes have been retried: the failure is seen again and again. */
  async function waitForRetries(httpPort: number, count: number): Promise<void> {
    await waitFor(`${count} write retries`, async () => ((await writeRetries(httpPort)) >= count ? true : undefined), 20_000, 100);
  }

  /** The one error line about InfluxDB's certificate, checked to be the only one. */
  function onlyTlsError(started: Ingestor, code: string): LogLine {
    const errors = started.logLines().filter((line) => line.level === PINO_ERROR && line.code === code);
    assert.equal(errors.length, 1, `one error line for ${code}, not one per retry:\n${JSON.stringify(errors, null, 1)}`);
    return errors[0]!;
  }

  before(async () => {
    pki = makePki();
    [broker, influx] = await Promise.all([startMosquitto(), startInflux1({ tls: pki.server })]);
  });

  after(async () => {
    for (const started of running) {
      await started.stop();
      started.cleanup();
    }
    await Promise.all([broker.stop(), influx.stop()]);
    pki.remove();
  });

  test('npm run setup over https: with INFLUX_CA_FILE it creates the database; without, one line says which CA to set', async () => {
    assert.match(influx.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const trusted = await runSetup({ INFLUX_API: 'v1', INFLUX_URL: influx.url, INFLUX_BUCKET: 'iot', INFLUX_CA_FILE: pki.ca });
    assert.equal(trusted.code, 0, trusted.output);
    assert.equal(trusted.output, 'setup: database iot: created (retention 30d)\n');
    const again = await runSetup({ INFLUX_API: 'v1', INFLUX_URL: influx.url, INFLUX_BUCKET: 'iot', INFLUX_CA_FILE: pki.ca, INFLUX_RETENTION: '2w' });
    assert.equal(again.output, 'setup: database iot: changed (retention 30d → 2w (policy autogen))\n', 'the /query path (not just /ping) goes over TLS too');
    assert.deepEqual((await influx.query('SHOW DATABASES')).map((row) => row.name).filter((name) => name === 'iot'), ['iot']);

    const untrusted = await runSetup({ INFLUX_API: 'v1', INFLUX_URL: influx.url, INFLUX_BUCKET: 'iot' });
    assert.equal(untrusted.code, 1);
    assert.equal(
      untrusted.output,
      `setup: failed: InfluxDB's certificate is not signed by a CA we trust (unknown CA) (UNABLE_TO_VERIFY_LEAF_SIGNATURE): set INFLUX_CA_FILE to the CA that signed InfluxDB's certificate (INFLUX_URL=${influx.url})\n`,
    );

    const overHttp = await runSetup({ INFLUX_API: 'v1', INFLUX_URL: influx.url.replace('https:', 'http:'), INFLUX_CA_FILE: pki.ca });
    assert.equal(overHttp.code, 2);
    assert.equal(overHttp.output, `setup: invalid configuration: INFLUX_CA_FILE="${pki.ca}": only used over TLS, but INFLUX_URL="${influx.url.replace('https:', 'http:')}" is http://: expected an https:// INFLUX_URL, or unset INFLUX_CA_FILE\n`);
  });

  test('npm run setup for InfluxDB 2 over https (the API stand-in with a certificate): scoped tokens made with the CA; refused without', async () => {
    const standIn = await startInflux2StandIn({ org: 'sensorflow', bucket: 'iot', retentionSeconds: 0, tls: pki.server });
    const tokenDir = mkdtempSync(join(tmpdir(), 'sensorflow-tokens-'));
    try {
      assert.match(standIn.url, /^https:/);
      const config: SetupConfig = {
        api: 'v2', url: standIn.url, org: 'sensorflow', bucket: 'iot', retentionSeconds: 30 * 86_400, adminToken: standIn.operatorToken,
        username: undefined, password: undefined, tokenDir, waitSeconds: 5, ca: readFileSync(pki.ca),
      };
      const lines: string[] = [];
      await runSetupInProcess(config, (line) => lines.push(line));
      assert.deepEqual(lines.slice(1, 5), [
        'setup: bucket iot: changed (retention infinite → 30d)',
        'setup: ingestor token: created (write-only, bucket iot)',
        'setup: grafana token: created (read-only, bucket iot)',
        'setup: InfluxQL mapping iot/autogen: created (→ bucket iot)',
      ]);
      assert.equal(standIn.authorizations.length, 2);
      const failure = await runSetupInProcess({ ...config, ca: readFileSync(pki.otherCa) }, () => undefined).then(() => undefined, (error: unknown) => error);
      assert.equal(explainFailure(failure, config), `InfluxDB's certificate is not signed by a CA we trust (unknown CA) (UNABLE_TO_VERIFY_LEAF_SIGNATURE): set INFLUX_CA_FILE to the CA that signed InfluxDB's certificate (INFLUX_URL=${standIn.url})`);
    } finally {
      await standIn.close();
      rmSync(tokenDir, { recursive: true, force: true });
    }
  });

  test('a CA file that is missing or not PEM: exit 2, one line naming INFLUX_CA_FILE', async () => {
    for (const [path, expected] of [
      ['/nonexistent/ca.pem', 'cannot read the file (ENOENT)'],
      [pki.server.key, 'expected a PEM file with the CA certificate(s) to trust (-----BEGIN CERTIFICATE-----), but it has none'],
    ] as const) {
      const started = startIngestor({ INFLUX_URL: influx.url, INFLUX_CA_FILE: path }, 'ingestor-bad-ca');
      try {
        assert.equal(await started.process.exited, 2);
        assert.equal(started.process.log(), `sensorflow: invalid configuration: INFLUX_CA_FILE="${path}": ${expected}\n`);
      } finally {
        started.cleanup();
      }
    }
  });

  test('the ingestor writes over https with INFLUX_CA_FILE: every point, exact', async () => {
    await influx.query('CREATE DATABASE tls_ok');
    const { ingestor: started } = await ingestor('tls_ok', { INFLUX_CA_FILE: pki.ca }, 'ingestor-tls-ok');
    const fleet = await publishFleet('tls-site');
    await waitFor('100 points over TLS', async () => ((await readFleetFromInflux(influx, 'tls_ok')).size === fleet.expected.size ? true : undefined), 20_000, 200);
    assertSameDataset(fleet, await readFleetFromInflux(influx, 'tls_ok'));
    const starting = started.logLines().find((line) => line.msg === 'starting') as { config: { influx: { tls: unknown } } };
    assert.deepEqual(starting.config.influx.tls, { ca: true });
    assert.equal(started.logLines().filter((line) => line.level === PINO_ERROR).length, 0);
  });

  test('without the CA: the ingestor stays up, keeps the data, says once which setting to fix, and /readyz says why', async () => {
    await influx.query('CREATE DATABASE tls_no_ca');
    const { ingestor: started, httpPort } = await ingestor('tls_no_ca', {}, 'ingestor-tls-no-ca');
    await publishFleet('no-ca-site');
    const error = await started.waitForLog('the unknown-CA line', (line) => line.level === PINO_ERROR);
    await waitForRetries(httpPort, 5);
    const line = onlyTlsError(started, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.deepEqual(line, error);
    assert.equal(
      line.msg,
      `InfluxDB at INFLUX_URL=${influx.url}: InfluxDB's certificate is not signed by a CA we trust (unknown CA) (UNABLE_TO_VERIFY_LEAF_SIGNATURE): set INFLUX_CA_FILE to the CA that signed InfluxDB's certificate; keeping the data in the write-ahead log and retrying every 200 ms`,
    );
    const state = await readyz(httpPort);
    assert.equal(state.ready, true, 'the log still takes messages');
    assert.equal(state.warnings.length, 1);
    assert.match(state.warnings[0]!, new RegExp(`^InfluxDB not trusted since \\S+ \\(INFLUX_URL=${influx.url.replace(/\./g, '\\.')}: tls_error: InfluxDB's certificate is not signed by a CA we trust \\(unknown CA\\) \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\): set INFLUX_CA_FILE to the CA that signed InfluxDB's certificate\\); the write-ahead log keeps the data$`));
    assert.deepEqual(await influx.query('SELECT count(temperature) FROM telemetry', 'tls_no_ca'), [], 'nothing written');
    assert.equal(started.process.child.exitCode, null, 'still running');
  });

  test('an expired certificate, then one for another host: one line each, and after the fix every point kept is written', async () => {
    await influx.query('CREATE DATABASE tls_fix');
    const files = tlsFiles(influx);
    const install = async (pair: TestPki['server']): Promise<void> => {
      copyFileSync(pair.cert, files.cert);
      copyFileSync(pair.key, files.key);
      await influx.restart();
    };
    await install(pki.serverExpired);
    const { ingestor: started, httpPort } = await ingestor('tls_fix', { INFLUX_CA_FILE: pki.ca }, 'ingestor-tls-fix');
    const fleet = await publishFleet('fix-site');

    await started.waitForLog('the expired-certificate line', (line) => line.level === PINO_ERROR && line.code === 'CERT_HAS_EXPIRED');
    const before = await writeRetries(httpPort);
    await waitForRetries(httpPort, before + 5);
    assert.match(onlyTlsError(started, 'CERT_HAS_EXPIRED').msg as string, /: InfluxDB's certificate has expired \(CERT_HAS_EXPIRED\): renew InfluxDB's certificate \(or check this machine's clock\); keeping the data/);
    assert.match((await readyz(httpPort)).warnings[0] ?? '', /tls_error: InfluxDB's certificate has expired \(CERT_HAS_EXPIRED\)/);

    await install(pki.serverWrongHost);
    await started.waitForLog('the wrong-host line', (line) => line.level === PINO_ERROR && line.code === 'ERR_TLS_CERT_ALTNAME_INVALID');
    const later = await writeRetries(httpPort);
    await waitForRetries(httpPort, later + 5);
    assert.match(onlyTlsError(started, 'ERR_TLS_CERT_ALTNAME_INVALID').msg as string, /: InfluxDB's certificate does not match the host \(hostname mismatch\) \(ERR_TLS_CERT_ALTNAME_INVALID\): use a host name in INFLUX_URL that the certificate lists in subjectAltName/);
    assert.match((await readyz(httpPort)).warnings[0] ?? '', /tls_error: InfluxDB's certificate does not match the host/);
    onlyTlsError(started, 'CERT_HAS_EXPIRED');

    await install(pki.server);
    await started.waitForLog('writes again', (line) => line.msg === 'InfluxDB accepts writes again');
    await waitFor('every kept point', async () => ((await readFleetFromInflux(influx, 'tls_fix')).size === fleet.expected.size ? true : undefined), 20_000, 200);
    assertSameDataset(fleet, await readFleetFromInflux(influx, 'tls_fix'));
    assert.deepEqual((await readyz(httpPort)).warnings, []);
  });

  test('the v2 write API over TLS (VictoriaMetrics -tls): every point, exact', async () => {
    const vm = await startVictoria({ tls: pki.server });
    try {
      const started = startIngestor({
        MQTT_URL: broker.url, INFLUX_URL: vm.url, INFLUX_API: 'v2', INFLUX_ORG: 'sensorflow', INFLUX_BUCKET: 'iot',
        INFLUX_TOKEN: 'not-checked-by-victoria', INFLUX_CA_FILE: pki.ca, FLUSH_INTERVAL_MS: '100',
      }, 'ingestor-tls-v2');
      running.push(started);
      await waitUntilSubscribed(started, ['sensors/+/+/telemetry']);
      assert.match(vm.url, /^https:/);
      const fleet = await publishFleet('v2-site');
      const stored = await waitFor('100 temperatures in VictoriaMetrics', async () => {
        const samples = new Map<string, number>();
        for (const series of await vm.exportSeries('telemetry_temperature')) {
          series.timestamps.forEach((ts, i) => samples.set(pointKey(series.metric.location as string, series.metric.device as string, ts), series.values[i] as number));
        }
        return samples.size === fleet.expected.size ? samples : undefined;
      }, 30_000, 300);
      assert.deepEqual(stored, new Map([...fleet.expected].map(([key, point]) => [key, point.fields.temperature])));
    } finally {
      await vm.stop();
    }
  });
});

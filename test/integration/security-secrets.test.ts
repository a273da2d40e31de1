/**
 * Secrets never reach the logs or the metrics, at LOG_LEVEL=trace, through
 * everything the ingestor does with them: connecting to Mosquitto with a
 * password, writing to an InfluxDB 1.x that has authentication on, a write
 * refused with 401, a connection refused for a wrong password, and shutdown.
 * Each run gives the secrets one way (NAME_FILE, then NAME directly or inside
 * MQTT_URL); the whole log of every run, and /metrics, are searched for every
 * secret value and for the encodings a careless log line would carry (Basic
 * auth, URL encoding).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertNoSecret as assertSecretFree, bootstrapInfluxAdmin, makeSecret, mosquittoAuthConfig, secretForms, tryConnect, writePasswordFile } from '../harness/auth.ts';
import { startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';

const MQTT_PASSWORD = makeSecret('mqtt-password');
const DEVICE_PASSWORD = makeSecret('device-password');
const INFLUX_PASSWORD = makeSecret('influx-password');
const ADMIN = { username: 'admin', password: makeSecret('influx-admin') };
/** Secrets given to the ingestor that are wrong or unused: they must not leak either. */
const WRONG_INFLUX_PASSWORD = makeSecret('wrong-influx-password');
const WRONG_MQTT_PASSWORD = makeSecret('wrong-mqtt-password');
const INFLUX_TOKEN = makeSecret('influx-token');
const INFLUX_TOKEN_2 = makeSecret('influx-token-2');

const SECRETS = [MQTT_PASSWORD, INFLUX_PASSWORD, WRONG_INFLUX_PASSWORD, WRONG_MQTT_PASSWORD, INFLUX_TOKEN, INFLUX_TOKEN_2, ADMIN.password];

const BASIC_AUTH_USERS = ['ingest', 'monitor'];
const forms = (secret: string): string[] => secretForms(secret, BASIC_AUTH_USERS);
const assertNoSecret = (haystack: string, where: string): void => assertSecretFree(haystack, SECRETS, where, BASIC_AUTH_USERS);

describe('secrets are never logged (LOG_LEVEL=trace)', () => {
  let dir: string;
  let broker: Mosquitto;
  let influx: Influx1;
  const runs: Ingestor[] = [];

  const baseEnv = (): Record<string, string> => ({
    LOG_LEVEL: 'trace',
    MQTT_URL: broker.url,
    MQTT_USERNAME: 'monitor',
    INFLUX_URL: influx.url,
    INFLUX_API: 'v1',
    INFLUX_BUCKET: 'iot',
    FLUSH_INTERVAL_MS: '100',
    STATS_INTERVAL_MS: '1000',
  });

  async function publishReadings(tsMs: number, count: number): Promise<void> {
    const device = await tryConnect(broker.url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a' });
    if (device instanceof Error) throw device;
    for (let i = 0; i < count; i += 1) {
      await device.publishAsync('sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 20 + i, ts: tsMs + i }), { qos: 1 });
    }
    await device.endAsync();
  }

  const telemetryCount = async (): Promise<number> => (await influx.query('SELECT temperature FROM telemetry', 'iot', ADMIN)).length;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-secrets-'));
    const passwordFile = writePasswordFile(dir, { monitor: MQTT_PASSWORD, 'dev-a': DEVICE_PASSWORD });
    [broker, influx] = await Promise.all([startMosquitto({ extraConfig: mosquittoAuthConfig(passwordFile) }), startInflux1({ auth: true })]);
    await bootstrapInfluxAdmin(influx.url, ADMIN);
    // The ingestor's InfluxDB user may write to one database and do nothing else.
    await influx.query(`CREATE DATABASE iot; CREATE USER ingest WITH PASSWORD '${INFLUX_PASSWORD}'; GRANT WRITE ON iot TO ingest`, undefined, ADMIN);
  });

  after(async () => {
    for (const run of runs) {
      await run.stop();
      run.cleanup();
    }
    await Promise.all([broker.stop(), influx.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('as NAME_FILE: connect, writes, /metrics, shutdown', async () => {
    const file = (name: string, content: string): string => {
      const path = join(dir, name);
      writeFileSync(path, `${content}\n`); // as editors and `echo` leave it
      return path;
    };
    const httpPort = await freePort();
    const run = startIngestor({
      ...baseEnv(),
      HTTP_PORT: String(httpPort),
      MQTT_PASSWORD_FILE: file('mqtt-password', MQTT_PASSWORD),
      INFLUX_USERNAME: 'ingest',
      INFLUX_PASSWORD_FILE: file('influx-password', INFLUX_PASSWORD),
      INFLUX_TOKEN_FILE: file('influx-token', INFLUX_TOKEN),
    }, 'ingestor-secrets-file');
    runs.push(run);
    await waitUntilSubscribed(run, ['sensors/+/+/telemetry']);
    await publishReadings(Date.now() - 10_000, 5);
    await waitFor('5 readings written by the ingest user', async () => ((await telemetryCount()) === 5 ? true : undefined));
    // The ingestor needed nothing beyond WRITE: its user cannot read what it wrote.
    await assert.rejects(influx.query('SELECT * FROM telemetry', 'iot', { username: 'ingest', password: INFLUX_PASSWORD }), /not authorized/);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(metrics, /sensorflow_points_written_total 5/);
    assertNoSecret(metrics, '/metrics');
    assert.equal(await run.stop(), 0);

    const log = run.process.log();
    // The search itself can fail: a secret in any of its forms is found.
    for (const form of forms(INFLUX_PASSWORD)) assert.throws(() => assertNoSecret(`${log}${form}`, 'probe'), /probe contains a secret/);
    assert.match(log, /"logLevel":"trace"/);
    assert.match(log, /"msg":"connected to the MQTT broker"/);
    assert.match(log, /"passwordSet":true/, 'the configuration is logged, secrets as "set"');
    assert.match(log, /"tokenSet":true/);
    assertNoSecret(log, 'the log');
  });

  test('as NAME (and in MQTT_URL): a write refused with 401 and a broker refusing a wrong password', async () => {
    const refusedWrite = startIngestor({
      ...baseEnv(),
      // The password in the URL, as some deployments write it.
      MQTT_URL: broker.url.replace('mqtt://', `mqtt://monitor:${MQTT_PASSWORD}@`),
      INFLUX_USERNAME: 'ingest',
      INFLUX_PASSWORD: WRONG_INFLUX_PASSWORD,
      INFLUX_TOKEN: INFLUX_TOKEN_2,
      WRITE_RETRY_MAX_MS: '1000',
      SHUTDOWN_TIMEOUT_MS: '500',
    }, 'ingestor-secrets-401');
    const refusedConnect = startIngestor({ ...baseEnv(), MQTT_PASSWORD: WRONG_MQTT_PASSWORD, INFLUX_USERNAME: 'ingest', INFLUX_PASSWORD }, 'ingestor-secrets-mqtt-refused');
    runs.push(refusedWrite, refusedConnect);

    await waitUntilSubscribed(refusedWrite, ['sensors/+/+/telemetry']);
    await publishReadings(Date.now() - 5_000, 2);
    const refusal = await refusedWrite.waitForLog('the 401', (line) => typeof line.msg === 'string' && line.msg.includes('HTTP 401'));
    assert.match(refusal.msg as string, /check INFLUX_TOKEN \(v2\/v3\) or INFLUX_USERNAME \/ INFLUX_PASSWORD \(v1\)/);
    const notAuthorized = await refusedConnect.waitForLog('the refused connection', (line) => line.code === '135');
    assert.match(notAuthorized.msg as string, /not authorized/);

    for (const run of [refusedWrite, refusedConnect]) {
      await run.stop();
      assertNoSecret(run.process.log(), `the log of ${run.process.name}`);
    }
    assert.equal(await telemetryCount(), 5, 'nothing was written with the wrong password');
  });
});

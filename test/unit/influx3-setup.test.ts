/**
 * `npm run setup` with INFLUX_API=v3 against the InfluxDB 3 stand-in
 * (test/harness/influx3-standin.ts, from influxdata/influxdb v3.10.1).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { explainFailure, loadSetupConfig, runSetup, SetupConfigError } from '../../influxdb/setup.ts';
import { humantimeDuration } from '../../influxdb/setup-v3.ts';
import { startInflux3StandIn, type Influx3StandIn } from '../harness/influx3-standin.ts';

describe('npm run setup, INFLUX_API=v3', () => {
  let standIn: Influx3StandIn;
  let tokenDir: string;
  before(async () => {
    standIn = await startInflux3StandIn();
    tokenDir = mkdtempSync(join(tmpdir(), 'sensorflow-v3-setup-'));
  });
  after(async () => {
    await standIn.close();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    INFLUX_API: 'v3', INFLUX_URL: standIn.url, INFLUX_ADMIN_TOKEN: standIn.adminToken, INFLUX_BUCKET: 'iot', SETUP_TOKEN_DIR: tokenDir, SETUP_WAIT_S: '2', ...extra,
  });

  test('creates the database with its retention, then finds it; the token files hold the admin token (Core has no scoped tokens)', async () => {
    const first: string[] = [];
    await runSetup(loadSetupConfig(env()), (line) => first.push(line));
    assert.equal(first[0], 'setup: database iot: created (retention 30d)');
    assert.equal(standIn.databases.get('iot')?.retentionPeriod, '30d');
    assert.match(first[1]!, /ingestor token written to .*ingestor-write\.token \(the admin token: InfluxDB 3 Core has no scoped tokens/);
    assert.equal(readFileSync(join(tokenDir, 'ingestor-write.token'), 'utf8'), standIn.adminToken);
    assert.equal(readFileSync(join(tokenDir, 'grafana-read.token'), 'utf8'), standIn.adminToken);

    const second: string[] = [];
    await runSetup(loadSetupConfig(env({ INFLUX_RETENTION: '12h' })), (line) => second.push(line));
    assert.equal(second[0], 'setup: database iot: found (retention 12h (set))');
    assert.equal(standIn.databases.get('iot')?.retentionPeriod, '12h');
    assert.equal(standIn.databases.size, 1);
  });

  test('a database name InfluxDB 3 refuses is refused before any request, naming INFLUX_BUCKET and the rule', () => {
    assert.throws(() => loadSetupConfig(env({ INFLUX_BUCKET: 'sensor.data' })), (error: unknown) => {
      assert.ok(error instanceof SetupConfigError);
      assert.match(error.message, /INFLUX_BUCKET.*sensor\.data.*ASCII letters, digits.*invalid character/);
      return true;
    });
    assert.throws(() => loadSetupConfig(env({ INFLUX_ADMIN_TOKEN: '' })), /INFLUX_ADMIN_TOKEN.*admin token/);
  });

  test('a wrong token: one line that says which token', async () => {
    const config = loadSetupConfig(env({ INFLUX_ADMIN_TOKEN: 'apiv3_wrong', SETUP_WAIT_S: '0' }));
    // /ping answers 401 to a wrong token: the wait gives up, so call the steps past it.
    const { setupV3 } = await import('../../influxdb/setup-v3.ts');
    await assert.rejects(setupV3({ url: config.url, database: 'iot', retentionSeconds: 0, adminToken: 'apiv3_wrong' }), (error: unknown) => {
      assert.match(explainFailure(error, config), /refused INFLUX_ADMIN_TOKEN \(401\): it must be an admin token/);
      return true;
    });
  });

  test('retention as humantime reads it', () => {
    assert.equal(humantimeDuration(30 * 86_400), '30d');
    assert.equal(humantimeDuration(12 * 3600), '12h');
    assert.equal(humantimeDuration(90), '90s');
  });
});

/**
 * `npm run setup` against InfluxDB 2: the request sequence, checked by a
 * stand-in that enforces the documented API (test/harness/influx2-standin.ts),
 * since InfluxDB 2 cannot run here. The InfluxDB 1.x half runs for real in
 * test/integration/stack.test.ts ("npm run setup against InfluxDB 1.x").
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { InfluxDB } from '@influxdata/influxdb-client';
import { startInflux2StandIn, type Influx2StandIn } from '../harness/influx2-standin.ts';
import { formatRetention, parseGoDuration, parseRetention } from '../../influxdb/retention.ts';
import { explainFailure, loadSetupConfig, runSetup, SetupConfigError, TOKEN_FILES, type SetupConfig } from '../../influxdb/setup.ts';
import { setupV2, tokenDescription } from '../../influxdb/setup-v2.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function configFor(standIn: Influx2StandIn, overrides: Partial<SetupConfig> = {}): SetupConfig {
  const tokenDir = mkdtempSync(join(tmpdir(), 'sensorflow-tokens-'));
  dirs.push(tokenDir);
  return {
    api: 'v2', url: standIn.url, org: 'sensorflow', bucket: 'iot', retentionSeconds: 30 * 86_400, adminToken: standIn.operatorToken,
    username: undefined, password: undefined, tokenDir, waitSeconds: 5, ...overrides,
  };
}

async function run(config: SetupConfig): Promise<string[]> {
  const lines: string[] = [];
  await runSetup(config, (line) => lines.push(line));
  return lines;
}

const writes = (standIn: Influx2StandIn): string[] =>
  standIn.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);

describe('npm run setup (InfluxDB 2, against the API stand-in)', () => {
  let standIn: Influx2StandIn;
  beforeEach(async () => {
    standIn = await startInflux2StandIn({ org: 'sensorflow', bucket: 'iot', retentionSeconds: 0 });
  });

  test('first run: sets the retention, creates two scoped tokens and the InfluxQL mapping, writes the token files', async (t) => {
    t.after(() => standIn.close());
    const config = configFor(standIn);
    const lines = await run(config);
    assert.deepEqual(lines.slice(0, 5), [
      `setup: organization sensorflow: found (id ${standIn.orgs[0]!.id})`,
      'setup: bucket iot: changed (retention infinite → 30d)',
      'setup: ingestor token: created (write-only, bucket iot)',
      'setup: grafana token: created (read-only, bucket iot)',
      'setup: InfluxQL mapping iot/autogen: created (→ bucket iot)',
    ]);
    assert.deepEqual(writes(standIn), ['PATCH /api/v2/buckets/' + standIn.buckets[0]!.id, 'POST /api/v2/authorizations', 'POST /api/v2/authorizations', 'POST /api/v2/dbrps']);
    assert.deepEqual(standIn.buckets[0]!.retentionRules, [{ type: 'expire', everySeconds: 2_592_000 }]);

    const bucket = standIn.buckets[0]!;
    const byDescription = new Map(standIn.authorizations.map((a) => [a.description, a]));
    const ingestor = byDescription.get(tokenDescription('ingestor', 'iot'))!;
    const grafana = byDescription.get(tokenDescription('grafana', 'iot'))!;
    // Exactly one permission each, on this bucket only: never the operator token.
    assert.deepEqual(ingestor.permissions, [{ action: 'write', resource: { type: 'buckets', id: bucket.id, orgID: bucket.orgID } }]);
    assert.deepEqual(grafana.permissions, [{ action: 'read', resource: { type: 'buckets', id: bucket.id, orgID: bucket.orgID } }]);
    assert.equal(readFileSync(join(config.tokenDir, TOKEN_FILES.ingestor), 'utf8'), ingestor.token);
    assert.equal(readFileSync(join(config.tokenDir, TOKEN_FILES.grafana), 'utf8'), grafana.token);
    assert.notEqual(ingestor.token, standIn.operatorToken);
    assert.equal(statSync(join(config.tokenDir, TOKEN_FILES.grafana)).mode & 0o777, 0o644);
    assert.deepEqual(standIn.dbrps.map((m) => [m.database, m.retention_policy, m.bucketID, m.default]), [['iot', 'autogen', bucket.id, true]]);
    // Every request carried the operator token (the stand-in answers 401 otherwise) and none failed.
    assert.ok(standIn.requests.every((r) => r.path !== '/api/v2/orgs' || r.query.org === 'sensorflow'));
  });

  test('second run: finds everything, changes nothing, keeps the same tokens', async (t) => {
    t.after(() => standIn.close());
    const config = configFor(standIn);
    await run(config);
    const tokens = standIn.authorizations.map((a) => a.token);
    standIn.requests.length = 0;
    const lines = await run(config);
    assert.deepEqual(writes(standIn), [], 'an idempotent run sends no POST/PATCH/DELETE');
    assert.deepEqual(lines.slice(0, 5).map((line) => line.split(': ').slice(1, 3).join(': ').replace(/ \(.*/, '')), [
      'organization sensorflow: found', 'bucket iot: found', 'ingestor token: found', 'grafana token: found', 'InfluxQL mapping iot/autogen: found',
    ]);
    assert.deepEqual(standIn.authorizations.map((a) => a.token), tokens);
    assert.equal(readFileSync(join(config.tokenDir, TOKEN_FILES.ingestor), 'utf8'), tokens[0]);
  });

  test('a lost token file is written again from the existing token; no new token is made', async (t) => {
    t.after(() => standIn.close());
    const config = configFor(standIn);
    await run(config);
    rmSync(join(config.tokenDir, TOKEN_FILES.grafana));
    await run(config);
    assert.equal(standIn.authorizations.length, 2);
    assert.equal(readFileSync(join(config.tokenDir, TOKEN_FILES.grafana), 'utf8'), standIn.authorizations[1]!.token);
  });

  test('a recreated bucket gets new tokens; the old ones (scoped to the gone bucket) are deleted', async (t) => {
    t.after(() => standIn.close());
    const config = configFor(standIn);
    await run(config);
    const old = standIn.authorizations.map((a) => a.id);
    standIn.buckets.splice(0, 1);
    standIn.dbrps.splice(0);
    const lines = await run(config);
    assert.ok(lines.includes('setup: bucket iot: created (retention 30d)'), lines.join('\n'));
    assert.equal(standIn.authorizations.length, 2);
    assert.ok(standIn.authorizations.every((a) => !old.includes(a.id)));
    assert.ok(standIn.authorizations.every((a) => a.permissions?.[0]?.resource.id === standIn.buckets[0]!.id));
  });

  test('a virtual InfluxQL mapping (InfluxDB 2.4+) counts as found', async (t) => {
    t.after(() => standIn.close());
    standIn.virtualDbrps = true;
    const lines = await run(configFor(standIn));
    assert.ok(lines.includes('setup: InfluxQL mapping iot/autogen: found (virtual)'), lines.join('\n'));
    assert.equal(standIn.dbrps.length, 0);
  });

  test('a missing organization is created', async (t) => {
    t.after(() => standIn.close());
    const lines = await run(configFor(standIn, { org: 'plant-7' }));
    assert.match(lines[0]!, /^setup: organization plant-7: created/);
    assert.match(lines[1]!, /^setup: bucket iot: created \(retention 30d\)/);
  });

  test('a wrong admin token fails with a line that says which token to use', async (t) => {
    t.after(() => standIn.close());
    const config = configFor(standIn, { adminToken: 'not-the-operator-token' });
    const influx = new InfluxDB({ url: config.url, token: config.adminToken });
    const error = await setupV2(influx, config).then(() => undefined, (e: unknown) => e);
    assert.equal(explainFailure(error, config), 'InfluxDB refused INFLUX_ADMIN_TOKEN (401): it must be the operator token InfluxDB was set up with (DOCKER_INFLUXDB_INIT_ADMIN_TOKEN)');
    assert.equal(standIn.authorizations.length, 0);
  });
});

describe('setup configuration', () => {
  test('defaults and the admin token from a file', () => {
    const config = loadSetupConfig({ INFLUX_ADMIN_TOKEN_FILE: '/run/secrets/admin' }, () => 'from-file\n');
    assert.equal(config.adminToken, 'from-file');
    assert.equal(config.retentionSeconds, 30 * 86_400);
    assert.equal(config.bucket, 'iot');
    assert.equal(config.tokenDir, 'data/tokens');
  });

  test('bad values name the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ INFLUX_ADMIN_TOKEN: 't', INFLUX_RETENTION: '30 days' }, /^INFLUX_RETENTION="30 days": expected a duration/],
      [{ INFLUX_ADMIN_TOKEN: 't', INFLUX_RETENTION: '30m' }, /^INFLUX_RETENTION="30m": expected at least 1h/],
      [{ INFLUX_ADMIN_TOKEN: 't', INFLUX_API: 'v4' }, /^INFLUX_API="v4": expected v2 \(InfluxDB 2\), v1 \(InfluxDB 1.x\) or v3/],
      [{ INFLUX_ADMIN_TOKEN: 't', INFLUX_URL: 'localhost:8086' }, /^INFLUX_URL="localhost:8086"/],
      [{}, /^INFLUX_ADMIN_TOKEN: expected the InfluxDB 2 operator token/],
    ];
    for (const [env, message] of cases) assert.throws(() => loadSetupConfig(env), (error: unknown) => error instanceof SetupConfigError && message.test(error.message));
  });

  test('InfluxDB 1.x needs no admin token', () => {
    assert.equal(loadSetupConfig({ INFLUX_API: 'v1' }).api, 'v1');
  });

  test('retention: InfluxDB duration text in and out', () => {
    assert.equal(parseRetention('30d'), 2_592_000);
    assert.equal(parseRetention('2w'), 1_209_600);
    assert.equal(parseRetention('0'), 0);
    assert.equal(formatRetention(2_592_000), '30d');
    assert.equal(formatRetention(1_209_600), '2w');
    assert.equal(parseGoDuration('720h0m0s'), 2_592_000);
    assert.equal(parseGoDuration('0s'), 0);
  });
});

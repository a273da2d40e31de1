/**
 * InfluxDB 3 Core in the compose stack: docker-compose.influx3.yml on top of
 * docker-compose.yml. InfluxDB 3 cannot run here: the merged file is checked
 * by docker-compose itself, each service's wiring against what InfluxDB 3
 * v3.10.1 expects, and that wiring against the stand-in
 * (test/harness/influx3-standin.ts): the health check's request, the admin
 * token file InfluxDB 3 reads, and `npm run setup` with the setup service's
 * environment.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { parse as parseDotenv } from 'dotenv';
import { loadSetupConfig, runSetup } from '../../influxdb/setup.ts';
import { loadConfig } from '../../ingestor/config.ts';
import { startInflux3StandIn } from '../harness/influx3-standin.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;

interface Service { image?: string; volumes?: string[]; entrypoint?: string[]; command?: string[]; environment?: Record<string, string>; healthcheck?: { test?: string[] }; ports?: unknown[] }
type Compose = { services: Record<string, Service> };

function merged(): Compose {
  const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', '-f', 'docker-compose.influx3.yml', 'config'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return parse(result.stdout) as Compose;
}

describe('docker-compose.influx3.yml', { skip: !hasCompose && 'docker-compose is not installed' }, () => {
  test('InfluxDB 3 Core pinned to the release read (3.10.1), on 8181, admin token from .env, health and ping without a token', () => {
    const influxdb = merged().services.influxdb!;
    assert.equal(influxdb.image, 'influxdb:3.10.1-core');
    assert.deepEqual(influxdb.entrypoint, ['/bin/bash', '-c']);
    const script = influxdb.command![0]!;
    assert.match(script, /exec influxdb3 serve --node-id sensorflow --object-store file --data-dir \/var\/lib\/influxdb3 --admin-token-file \/var\/lib\/influxdb3\/admin-token\.json --disable-authz health,ping$/);
    assert.deepEqual(influxdb.healthcheck!.test, ['CMD', 'curl', '-fsS', '-o', '/dev/null', 'http://127.0.0.1:8181/health']);
    assert.ok(JSON.stringify(influxdb.ports).includes('8181'));
    const env = parseDotenv(readFileSync(join(ROOT, '.env')));
    assert.equal(influxdb.environment!.INFLUX_CORE_ADMIN_TOKEN, env.INFLUX_CORE_ADMIN_TOKEN);
    assert.ok(env.INFLUX_CORE_ADMIN_TOKEN!.startsWith('apiv3_'), 'InfluxDB 3 refuses an admin token file whose token lacks apiv3_ (serve.rs l. 1808–1813)');
  });

  test('the admin token file the entrypoint writes is the JSON InfluxDB 3 reads ({token, name})', () => {
    const script = merged().services.influxdb!.command![0]!;
    // Run the printf part as bash in the container would: `config` prints compose's $$ escape, which the container sees as $.
    const printf = script.split(' > ')[0]!.replaceAll('$$', '$');
    const written = execFileSync('/bin/bash', ['-c', printf], { env: { INFLUX_CORE_ADMIN_TOKEN: 'apiv3_abc' }, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(written), { token: 'apiv3_abc', name: '_admin' });
  });

  test('Grafana gets the InfluxDB 3 rules over the default ones: no rule looks back past Core\'s query file limit (~72 h)', () => {
    // docker-compose config prints each mount as source:target:mode; Docker mounts the file over the directory mounted before it.
    const volumes = merged().services.grafana!.volumes!;
    assert.ok(volumes.includes(`${join(ROOT, 'grafana/influx3/rules.yaml')}:/etc/grafana/provisioning/alerting/rules.yaml:ro`), volumes.join('\n'));
    assert.ok(volumes.includes(`${join(ROOT, 'grafana/provisioning')}:/etc/grafana/provisioning:ro`), 'the rest of the provisioning as in docker-compose.yml');
    const lookBacks = (file: string): number[] => [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^\s*from: (\d+)$/gm)].map((match) => Number(match[1]));
    const longest = Math.max(...lookBacks('grafana/influx3/rules.yaml'));
    assert.equal(longest, 2 * 86_400, 'Ingestor not reporting: 2 days');
    assert.ok(Math.max(...lookBacks('grafana/provisioning/alerting/rules.yaml')) > 72 * 3600, 'the default rules do look back further (30 days): the overlay must replace them');
    assert.equal(lookBacks('grafana/influx3/rules.yaml').length, lookBacks('grafana/provisioning/alerting/rules.yaml').length, 'the same rules');
  });

  test('setup, the ingestor and Grafana dial InfluxDB 3 on 8181; setup and the ingestor with INFLUX_API=v3', () => {
    const config = merged();
    for (const service of ['setup', 'ingestor', 'grafana']) assert.equal(config.services[service]!.environment!.INFLUX_URL, 'http://influxdb:8181', service);
    for (const service of ['setup', 'ingestor']) assert.equal(config.services[service]!.environment!.INFLUX_API, 'v3', service);
    assert.equal(config.services.setup!.environment!.INFLUX_ADMIN_TOKEN, parseDotenv(readFileSync(join(ROOT, '.env'))).INFLUX_CORE_ADMIN_TOKEN);
  });

  test('against the stand-in: the health check answers without a token, setup runs with the setup service\'s environment, the ingestor\'s settings load', async () => {
    const config = merged();
    const token = config.services.influxdb!.environment!.INFLUX_CORE_ADMIN_TOKEN!;
    const standIn = await startInflux3StandIn({ adminToken: token, disableAuthz: ['health', 'ping'] });
    const tokenDir = mkdtempSync(join(tmpdir(), 'sensorflow-compose-v3-'));
    try {
      const health = await fetch(`${standIn.url}/health`);
      assert.equal(health.status, 200, 'the health check needs no token with --disable-authz health');
      const setupEnv: Record<string, string> = { ...config.services.setup!.environment!, INFLUX_URL: standIn.url, SETUP_TOKEN_DIR: tokenDir, SETUP_WAIT_S: '2', SENSORFLOW_ENV: '' };
      const printed: string[] = [];
      await runSetup(loadSetupConfig(setupEnv), (line) => printed.push(line));
      assert.equal(printed[0], `setup: database ${setupEnv.INFLUX_BUCKET}: created (retention ${setupEnv.INFLUX_RETENTION})`);
      const ingestorEnv = { ...config.services.ingestor!.environment!, INFLUX_URL: standIn.url, INFLUX_TOKEN_FILE: join(tokenDir, 'ingestor-write.token') };
      const loaded = loadConfig(ingestorEnv);
      assert.equal(loaded.influx.api, 'v3');
      assert.equal(loaded.influx.token, token);
    } finally {
      await standIn.close();
      rmSync(tokenDir, { recursive: true, force: true });
    }
  });
});

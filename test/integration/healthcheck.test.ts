/**
 * The image's health check program against a real ingestor (real Mosquitto
 * and InfluxDB 1.x) listening on a port that is not 8080: the check follows
 * HTTP_PORT / HTTP_HOST as the container's environment gives them (issue 19,
 * defect 10), with no HEALTHCHECK_URL.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT, startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { freePort } from '../harness/ports.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';

let broker: Mosquitto;
let influx: Influx1;
before(async () => {
  [broker, influx] = await Promise.all([startMosquitto(), startInflux1()]);
});
after(async () => {
  await Promise.all([broker.stop(), influx.stop()]);
});

/** Runs common/healthcheck.ts with only this environment (and PATH): exit code and stderr. */
function healthcheck(env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'common', 'healthcheck.ts')], {
    cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr };
}

test('an ingestor on HTTP_PORT=<free port>, HTTP_HOST=0.0.0.0 is healthy by its own settings; another port is not', async () => {
  const httpPort = await freePort();
  const ingestor = startIngestor({ MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'healthcheck', HTTP_PORT: String(httpPort), HTTP_HOST: '0.0.0.0' });
  try {
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
    assert.deepEqual(healthcheck({ HTTP_PORT: String(httpPort), HTTP_HOST: '0.0.0.0' }), { status: 0, stderr: '' });
    const elsewhere = await freePort();
    const refused = healthcheck({ HTTP_PORT: String(elsewhere), HTTP_HOST: '0.0.0.0' });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`^unhealthy: http://127\\.0\\.0\\.1:${elsewhere}/healthz: `));
  } finally {
    await ingestor.stop();
    ingestor.cleanup();
  }
});

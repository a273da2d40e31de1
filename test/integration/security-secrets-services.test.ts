/**
 * Secrets never reach the logs or the metrics of the services other than the
 * ingestor (security-secrets.test.ts covers the ingestor):
 * - the notifier at LOG_LEVEL=trace: its Bearer token, a wrong token an
 *   attacker tried, both bots' webhook URLs (they hold the access token) and
 *   signing secrets, through a refused request, deliveries, a retry, a bot
 *   refusing the signature, /metrics, `--test` and shutdown;
 * - the simulator: its MQTT password, accepted and refused by a Mosquitto
 *   with authentication on;
 * - the development broker at LOG_LEVEL=trace: its users' passwords, through
 *   logins accepted and refused, a publish and a denied one.
 * Every secret is random, and searched for in every form a careless log line
 * would carry (whole, a prefix, URL-encoded, base64).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { assertNoSecret, makeSecret, writePasswordFile } from '../harness/auth.ts';
import { BotStandIn } from '../harness/im-bots.ts';
import { REPO_ROOT } from '../harness/ingestor.ts';
import { deviceAlert, notification, postWebhook, tempDir } from '../harness/notifier-app.ts';
import { runNotifier, startNotifierProcess } from '../harness/notifier-process.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, waitFor } from '../harness/process.ts';
import { startDevBroker, startMosquitto } from '../harness/services.ts';

const removals: (() => void)[] = [];
after(() => {
  for (const remove of removals) remove();
});
function scratchDir(prefix: string): string {
  const dir = tempDir(prefix);
  removals.push(dir.remove);
  return dir.path;
}

describe('the notifier logs no secret (LOG_LEVEL=trace)', () => {
  test('webhook token, bot URLs and signing secrets: refused request, deliveries, retry, signature refusal, /metrics, --test, shutdown', async () => {
    const notifierToken = makeSecret('notifier-token');
    const attackerToken = makeSecret('attacker-token');
    const dingtalkSecret = `SEC${makeSecret('dingtalk-secret')}`;
    const feishuSecret = makeSecret('feishu-secret');
    const dingtalk = await BotStandIn.start({ platform: 'dingtalk', token: makeSecret('dingtalk-access-token'), secret: dingtalkSecret });
    const feishu = await BotStandIn.start({ platform: 'feishu', token: makeSecret('feishu-hook-token'), secret: feishuSecret });
    const secrets = [notifierToken, attackerToken, dingtalkSecret, feishuSecret, dingtalk.token, feishu.token]; // the URLs hold the tokens
    const dir = scratchDir('sensorflow-notifier-secrets-');
    // One secret as NAME_FILE (as Docker secrets give it), the others as NAME.
    const secretFile = join(dir, 'dingtalk-secret');
    writeFileSync(secretFile, `${dingtalkSecret}\n`);
    const env = {
      LOG_LEVEL: 'trace',
      NOTIFIER_TOKEN: notifierToken,
      NOTIFIER_QUEUE_DIR: join(dir, 'queue'),
      DINGTALK_WEBHOOK_URL: dingtalk.url,
      DINGTALK_SECRET_FILE: secretFile,
      FEISHU_WEBHOOK_URL: feishu.url,
      FEISHU_SECRET: feishuSecret,
    };
    const port = await freePort();
    const notifier = await startNotifierProcess(env, port, 'notifier-secrets');
    try {
      const refused = await postWebhook(port, notification([deviceAlert('dev-secret-0')]), { authorization: `Bearer ${attackerToken}` });
      assert.equal(refused.status, 401);
      assertNoSecret(refused.body, secrets, 'the 401 reply');

      // DingTalk fails once (retried), Feishu refuses the signature once (never retried).
      dingtalk.failNext({ status: 503, body: 'busy' });
      feishu.failNext({ status: 200, body: { code: 19021, msg: 'sign match fail or timestamp is not within one hour from current time', data: {} } });
      const accepted = await postWebhook(port, notification([deviceAlert('dev-secret-1')]), { authorization: `Bearer ${notifierToken}` });
      assert.equal(accepted.status, 200, accepted.body);
      await waitFor('DingTalk delivered after its retry', () => (dingtalk.delivered.length === 1 && dingtalk.requests.length === 2 ? true : undefined));
      await waitFor('the Feishu signature refusal logged', () => (/rejected the signature/.test(notifier.process.log()) ? true : undefined));
      assert.equal(feishu.delivered.length, 0);

      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /dingtalk/, 'the metrics name the bots');
      assertNoSecret(metrics, secrets, '/metrics');
      assert.equal(await notifier.process.stop(), 0);

      const log = notifier.process.log();
      assert.match(log, /"level":10,.*"msg":"webhook request"/, 'the run logged at trace');
      assert.match(log, /"level":20,.*"bot":"dingtalk","url":"http:\/\/127\.0\.0\.1:\d+\/robot\/send\?access_token=ding\*\*\*".*"msg":"sending"/, 'and at debug, with the URL redacted');
      assert.match(log, /HTTP 503/, 'the retry is logged');
      assertNoSecret(log, secrets, 'the notifier log');

      const check = await runNotifier(['--test'], env);
      assert.equal(check.status, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /^dingtalk .*→ delivered$/m, 'the bot is named, its URL redacted');
      assertNoSecret(check.stdout + check.stderr, secrets, 'notifier --test');
    } finally {
      await notifier.process.stop();
      notifier.cleanup();
      await Promise.all([dingtalk.stop(), feishu.stop()]);
    }
  });
});

describe('the simulator logs no secret', () => {
  test('its MQTT password, accepted and refused', async () => {
    const dir = scratchDir('sensorflow-simulator-secrets-');
    const password = makeSecret('simulator-password');
    const wrongPassword = makeSecret('wrong-simulator-password');
    const passwordFile = writePasswordFile(dir, { fleet: password });
    const broker = await startMosquitto({ extraConfig: ['allow_anonymous false', `password_file ${passwordFile}`] });
    const main = join(REPO_ROOT, 'simulator', 'main.ts');
    const run = async (name: string, env: Record<string, string>): Promise<string> => {
      const sim = startProcess(name, process.execPath, ['--import', import.meta.resolve('tsx'), main, '--devices', '2', '--interval-ms', '200', '--duration', '2', '--churn-per-hour', '0'], {
        cwd: dir,
        env: { PATH: process.env.PATH, MQTT_URL: broker.url, MQTT_USERNAME: 'fleet', ...env },
      });
      await sim.exited;
      return sim.log();
    };
    try {
      const accepted = await run('simulator-secret-ok', { MQTT_PASSWORD: password });
      const summary = JSON.parse(accepted.trim().split('\n').at(-1)!) as { sent: number; errors: number };
      assert.ok(summary.sent >= 2, accepted);
      assert.equal(summary.errors, 0, accepted);
      const refused = await run('simulator-secret-refused', { MQTT_PASSWORD: wrongPassword });
      assert.match(refused, /not authori[sz]ed|Bad username or password/i, 'the refusal is explained');
      assertNoSecret(accepted + refused, [password, wrongPassword], 'the simulator output', ['fleet']);
    } finally {
      await broker.stop();
    }
  });
});

describe('the development broker logs no secret (LOG_LEVEL=trace)', () => {
  test('its users\' passwords: logins accepted and refused, a publish allowed and one denied', async () => {
    const device = { username: 'dev-s', password: makeSecret('dev-broker-device'), role: 'device' } as const;
    const wrongPassword = makeSecret('dev-broker-wrong');
    const broker = await startDevBroker([device], { logLevel: 'trace' });
    try {
      const client = await mqtt.connectAsync(broker.url, { clientId: 'dev-s', username: device.username, password: device.password, reconnectPeriod: 0 });
      await client.publishAsync('sensors/lab/dev-s/telemetry', '{"t":1}', { qos: 1 });
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      client.publish('sensors/lab/dev-other/telemetry', '{"t":2}', { qos: 1 });
      await closed; // a publish outside the ACL closes the connection
      const refused = await mqtt.connectAsync(broker.url, { clientId: 'dev-s', username: device.username, password: wrongPassword, reconnectPeriod: 0 }).then(
        async (connected) => { await connected.endAsync(true); return 'connected'; },
        (error: Error) => error.message,
      );
      assert.match(refused, /Bad username or password/);
      await waitFor('the refusal logged', () => (/connection refused: bad username or password/.test(broker.process.log()) ? true : undefined));
      const log = broker.process.log();
      assert.match(log, /"msg":"publish denied by the ACL"/);
      assertNoSecret(log, [device.password, wrongPassword], 'the development broker log', [device.username]);
    } finally {
      await broker.stop();
    }
  });
});

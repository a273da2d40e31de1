/**
 * The real notifier process: SIGKILLed with notifications queued, it delivers
 * them after a restart; `--test` prints each bot's reply; bad configuration
 * exits 2 with one line. Spawns processes: run under the shared lock.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { BotStandIn, messageText } from '../harness/im-bots.ts';
import { deviceAlert, notification, postWebhook, tempDir, TOKEN } from '../harness/notifier-app.ts';
import { runNotifier, startNotifierProcess } from '../harness/notifier-process.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';

const DINGTALK_SECRET = 'SECprocess0123456789';
const FEISHU_SECRET = 'feishu-process-secret';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function standIns(): Promise<{ dingtalk: BotStandIn; feishu: BotStandIn; env: Record<string, string> }> {
  const dingtalk = await BotStandIn.start({ platform: 'dingtalk', secret: DINGTALK_SECRET });
  const feishu = await BotStandIn.start({ platform: 'feishu', secret: FEISHU_SECRET });
  cleanups.push(() => dingtalk.stop(), () => feishu.stop());
  return {
    dingtalk,
    feishu,
    env: { NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: dingtalk.url, DINGTALK_SECRET, FEISHU_WEBHOOK_URL: feishu.url, FEISHU_SECRET },
  };
}

describe('notifier process', () => {
  test('SIGKILLed with notifications queued, it delivers them after a restart', async () => {
    const { dingtalk, feishu, env } = await standIns();
    const queue = tempDir('notifier-queue-');
    cleanups.push(() => queue.remove());
    // Both platforms down: everything stays queued.
    dingtalk.failAlways({ status: 503, body: 'down' });
    feishu.failAlways({ status: 503, body: 'down' });
    const port = await freePort();
    const first = await startNotifierProcess({ ...env, NOTIFIER_QUEUE_DIR: queue.path }, port, 'notifier-before-kill');
    cleanups.push(() => first.cleanup(), () => first.process.kill());
    const devices = ['kill-001', 'kill-002', 'kill-003'];
    for (const device of devices) {
      const reply = await postWebhook(port, notification([deviceAlert(device)]));
      assert.equal(reply.status, 200, reply.body);
    }
    // 200 means on disk: the files are there before the kill.
    assert.equal(readdirSync(join(queue.path, 'queue', 'dingtalk')).length, 3);
    assert.equal(readdirSync(join(queue.path, 'queue', 'feishu')).length, 3);
    await waitFor('a failed attempt', () => (dingtalk.requests.length > 0 ? true : undefined));
    assert.equal(await first.process.kill(), 'SIGKILL');
    assert.equal(dingtalk.delivered.length + feishu.delivered.length, 0);

    dingtalk.failAlways(undefined);
    feishu.failAlways(undefined);
    const second = await startNotifierProcess({ ...env, NOTIFIER_QUEUE_DIR: queue.path }, port, 'notifier-after-kill');
    cleanups.push(() => second.cleanup(), () => second.process.stop());
    await waitFor('every queued alert delivered to both bots', () =>
      devices.every((device) => [dingtalk, feishu].every((standIn) => standIn.delivered.some((r) => messageText(r).includes(`设备 ${device} 离线`)))) ? true : undefined,
    );
    await waitFor('queues empty', () => (readdirSync(join(queue.path, 'queue', 'dingtalk')).length + readdirSync(join(queue.path, 'queue', 'feishu')).length === 0 ? true : undefined));
    // In arrival order, each once.
    const order = dingtalk.delivered.map((r) => devices.find((device) => messageText(r).includes(`设备 ${device} 离线`)));
    assert.deepEqual(order, devices);
    assert.match(second.process.log(), /notifications queued by a previous run will be delivered/);
    assert.equal(await second.process.stop(), 0);
  });

  test('--test sends a signed test message to each bot and prints the reply', async () => {
    const { dingtalk, feishu, env } = await standIns();
    const result = await runNotifier(['--test'], env);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 2, result.stdout);
    assert.match(lines[0] ?? '', /^dingtalk \(dingtalk, http:\/\/127\.0\.0\.1:\d+\/robot\/send\?access_token=tok3\*\*\*, signed\): HTTP 200 \{"errcode":0,"errmsg":"ok"\} → delivered$/);
    assert.match(lines[1] ?? '', /^feishu \(feishu, http:\/\/127\.0\.0\.1:\d+\/open-apis\/bot\/v2\/hook\/tok3\*\*\*, signed\): HTTP 200 \{"code":0,"data":\{\},"msg":"success"\} → delivered$/);
    assert.ok(!result.stdout.includes(dingtalk.token), 'the token is redacted');
    assert.equal(dingtalk.delivered.length, 1);
    assert.equal(feishu.delivered.length, 1);
    assert.match(messageText(dingtalk.delivered[0]!), /sensorflow 告警测试/);

    const one = await runNotifier(['--test', 'feishu'], { ...env, FEISHU_SECRET: 'wrong' });
    assert.equal(one.status, 1);
    assert.match(one.stdout, /^feishu \(feishu, .*\): HTTP 200 \{"code":19021,.*\} → Feishu bot "feishu" rejected the signature: the secret does not match/);
    assert.equal(dingtalk.requests.length, 1, 'only the named bot was tested');
  });

  test('bad configuration exits 2 with one line naming the setting', async () => {
    const dir = tempDir('notifier-badconfig-');
    cleanups.push(() => dir.remove());
    const missingToken = await runNotifier([], {});
    assert.equal(missingToken.status, 2);
    assert.equal(missingToken.stderr, "sensorflow-notifier: invalid configuration: NOTIFIER_TOKEN: required: the Bearer token Grafana's webhook contact point sends (or NOTIFIER_TOKEN_FILE)\n");
    const file = join(dir.path, 'bad.yaml');
    writeFileSync(file, 'bots:\n  ops:\n    platform: dingtalk\n    url_env: OPS_URL\nroutes:\n  - match: { group: production }\n    bots: [opps]\ndefault: [ops]\n');
    const badRoute = await runNotifier([], { NOTIFIER_TOKEN: TOKEN, NOTIFIER_CONFIG: file, OPS_URL: 'https://oapi.dingtalk.com/robot/send?access_token=abc' });
    assert.equal(badRoute.status, 2);
    assert.equal(badRoute.stderr, `sensorflow-notifier: invalid configuration: NOTIFIER_CONFIG ${file}: routes[0].bots="opps": no such bot; the bots are ops\n`);
  });
});

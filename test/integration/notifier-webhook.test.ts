/**
 * The webhook side of the notifier, in-process against the DingTalk and
 * Feishu stand-ins: what it refuses (nothing queued, nothing sent), how it
 * routes by labels, who it mentions, and Grafana's own documented example
 * notification rendered end to end.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { startNotifier, type RunningNotifier } from '../../notifier/app.ts';
import { loadConfig } from '../../notifier/config.ts';
import { systemClock } from '../../notifier/delivery/clock.ts';
import { BotStandIn, messageText } from '../harness/im-bots.ts';
import { bot, captureLog, deviceAlert, JumpClock, notification, notifierConfig, postWebhook, tempDir, TOKEN } from '../harness/notifier-app.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function simpleRig(
  extra: Parameters<typeof notifierConfig>[2] = {},
  start: Parameters<typeof startNotifier>[2] = {},
): Promise<{ notifier: RunningNotifier; dingtalk: BotStandIn; feishu: BotStandIn; queueDir: string }> {
  const clock = start.clock ?? new JumpClock();
  const dingtalk = await BotStandIn.start({ platform: 'dingtalk', secret: 'SECdt', now: () => clock.now() });
  const feishu = await BotStandIn.start({ platform: 'feishu', secret: 'fs', now: () => clock.now() });
  const dir = tempDir('notifier-webhook-');
  const config = notifierConfig(dir.path, [bot('dingtalk', 'dingtalk', dingtalk.url, { secret: 'SECdt' }), bot('feishu', 'feishu', feishu.url, { secret: 'fs' })], extra);
  const notifier = await startNotifier(config, captureLog().log, { clock, defaultMetrics: false, ...start });
  cleanups.push(() => dir.remove(), () => dingtalk.stop(), () => feishu.stop(), () => notifier.stop());
  return { notifier, dingtalk, feishu, queueDir: dir.path };
}

const queuedFiles = (queueDir: string): string[] => ['dingtalk', 'feishu'].flatMap((name) => readdirSync(join(queueDir, 'queue', name)));

describe('webhook input', () => {
  test('requests without the right Bearer token get 401 and send nothing', async () => {
    const { notifier, dingtalk, feishu, queueDir } = await simpleRig();
    const body = notification([deviceAlert('dev-x')]);
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: TOKEN }, { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }];
    for (const headers of attempts) {
      const reply = await postWebhook(notifier.port, body, headers);
      assert.equal(reply.status, 401, JSON.stringify(headers));
      assert.match(reply.body, /Bearer token/);
    }
    assert.deepEqual(queuedFiles(queueDir), []);
    assert.equal(dingtalk.requests.length + feishu.requests.length, 0);
  });

  test('bodies over the limit get 413, declared or streamed, and send nothing', async () => {
    const { notifier, dingtalk, feishu, queueDir } = await simpleRig({ maxBodyBytes: 4096 });
    const big = notification([deviceAlert('dev-big', { annotations: { summary: 'x'.repeat(5000) } })]);
    const declared = await postWebhook(notifier.port, big);
    assert.equal(declared.status, 413);
    assert.match(declared.body, /body over 4096 bytes/);
    // Chunked, no Content-Length: cut off while streaming.
    const streamed = await fetch(`http://127.0.0.1:${notifier.port}/grafana/webhook`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i += 1) controller.enqueue(new TextEncoder().encode(' '.repeat(1000)));
          controller.close();
        },
      }),
      duplex: 'half',
    }).catch((error: unknown) => ({ status: `failed: ${(error as Error).message}` }));
    assert.equal(streamed.status, 413);
    assert.deepEqual(queuedFiles(queueDir), []);
    assert.equal(dingtalk.requests.length + feishu.requests.length, 0);
  });

  test('malformed JSON and bodies that are not Grafana\'s get 400 with the reason, and send nothing', async () => {
    const { notifier, dingtalk, feishu, queueDir } = await simpleRig();
    const cases: [string | object, RegExp][] = [
      ['{"receiver": "x", ', /malformed JSON/],
      [{ hello: 'world' }, /not a Grafana webhook notification \(version 1\): the body must have required property 'receiver'/],
      [{ ...notification([deviceAlert('d')]), version: '4' }, /version must be "1"/],
      [{ ...notification([deviceAlert('d')]), alerts: [] }, /alerts must NOT have fewer than 1 items/],
      [{ ...notification([deviceAlert('d')]), alerts: [{ ...deviceAlert('d'), status: 'exploded' }] }, /alerts\.0\.status must be one of firing, resolved/],
      [{ ...notification([deviceAlert('d')]), alerts: [{ ...deviceAlert('d'), labels: { device: 7 } }] }, /alerts\.0\.labels\.device must be string/],
    ];
    for (const [body, reason] of cases) {
      const reply = await postWebhook(notifier.port, body);
      assert.equal(reply.status, 400, reply.body);
      assert.match((JSON.parse(reply.body) as { error: string }).error, reason);
    }
    assert.deepEqual(queuedFiles(queueDir), []);
    assert.equal(dingtalk.requests.length + feishu.requests.length, 0);
  });

  test('a client that stops sending mid-body is cut off by the request timeout', async () => {
    const { notifier } = await simpleRig({ requestTimeoutMs: 300 });
    const socket = connect(notifier.port, '127.0.0.1');
    socket.write(`POST /grafana/webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"receiver":`);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 408/);
  });

  test('the same notification sent twice while queued is queued once', async () => {
    // The real clock: the first attempt fails and the retry waits 2 s, long enough for Grafana's resend to find it queued.
    const { notifier, dingtalk, feishu, queueDir } = await simpleRig({}, { clock: systemClock, backoff: { baseMs: 2000, maxMs: 2000 } });
    dingtalk.failNext({ status: 503, body: 'busy' });
    feishu.failNext({ status: 503, body: 'busy' });
    const body = notification([deviceAlert('dev-dup')]);
    const first = await postWebhook(notifier.port, body);
    const second = await postWebhook(notifier.port, body);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.match(second.body, /"duplicates":2/);
    await Promise.all([dingtalk.waitForDelivered(1), feishu.waitForDelivered(1)]);
    await until('queues empty', () => queuedFiles(queueDir).length === 0);
    assert.equal(dingtalk.requests.length, 2, 'the failed attempt and one delivery');
    assert.equal(feishu.requests.length, 2);
  });

  test('/healthz, /readyz and /metrics answer', async () => {
    const { notifier } = await simpleRig();
    const base = `http://127.0.0.1:${notifier.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, reasons: [] });
    await postWebhook(notifier.port, { nope: 1 });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /notifier_webhook_requests_total\{outcome="invalid"\} 1/);
    assert.match(metrics, /notifier_notifications_queued\{bot="dingtalk"\} 0/);
  });
});

describe('routing and mentions', () => {
  test('alerts go to the bots their labels match, critical ones also to on-call with mentions, the rest to the default', async () => {
    const clock = new JumpClock();
    const production = await BotStandIn.start({ platform: 'dingtalk', token: 'prodtoken', secret: 'SECprod', now: () => clock.now() });
    const gateway = await BotStandIn.start({ platform: 'feishu', token: 'gwtoken', secret: 'gwsecret', now: () => clock.now() });
    const oncall = await BotStandIn.start({ platform: 'dingtalk', token: 'oncalltoken', secret: 'SEConcall', now: () => clock.now() });
    const oncallFeishu = await BotStandIn.start({ platform: 'feishu', token: 'oncallfs', now: () => clock.now() });
    const dir = tempDir('notifier-routing-');
    const file = join(dir.path, 'notifier.yaml');
    writeFileSync(join(dir.path, 'gateway-secret'), 'gwsecret\n');
    writeFileSync(
      file,
      `bots:
  production:
    platform: dingtalk
    url_env: PROD_URL
    secret_env: PROD_SECRET
  gateway:
    platform: feishu
    url_env: GW_URL
    secret_file: ${join(dir.path, 'gateway-secret')}
  oncall:
    platform: dingtalk
    url_env: ONCALL_URL
    secret_env: ONCALL_SECRET
    mention: { mobiles: ["13800000001", "13800000002"] }
  oncall-feishu:
    platform: feishu
    url_env: ONCALL_FS_URL
    mention: { user_ids: [ou_abc123], all: true }
routes:
  - match: { group: production }
    bots: [production]
  - match: { group: gateway }
    bots: [gateway]
  - match: { severity: critical }
    bots: [oncall, oncall-feishu]
default: [production]
`,
    );
    const config = loadConfig({
      NOTIFIER_TOKEN: TOKEN,
      NOTIFIER_CONFIG: file,
      NOTIFIER_QUEUE_DIR: join(dir.path, 'queue'),
      NOTIFIER_PORT: '0',
      PROD_URL: production.url,
      PROD_SECRET: 'SECprod',
      GW_URL: gateway.url,
      ONCALL_URL: oncall.url,
      ONCALL_SECRET: 'SEConcall',
      ONCALL_FS_URL: oncallFeishu.url,
    });
    const notifier = await startNotifier(config, captureLog().log, { clock, defaultMetrics: false });
    cleanups.push(() => dir.remove(), () => production.stop(), () => gateway.stop(), () => oncall.stop(), () => oncallFeishu.stop(), () => notifier.stop());

    const body = notification([
      deviceAlert('prod-1', { labels: { group: 'production' } }),
      deviceAlert('gw-1', { labels: { group: 'gateway' } }),
      deviceAlert('gw-2', { labels: { group: 'gateway', severity: 'critical', alertname: 'DeviceOfflineEscalation' } }),
      deviceAlert('lab-1', { labels: { group: 'lab' } }),
    ]);
    const reply = await postWebhook(notifier.port, body);
    assert.equal(reply.status, 200, reply.body);
    assert.deepEqual((JSON.parse(reply.body) as { bots: string[] }).bots.sort(), ['gateway', 'oncall', 'oncall-feishu', 'production']);
    await Promise.all([production.waitForDelivered(1), gateway.waitForDelivered(1), oncall.waitForDelivered(1), oncallFeishu.waitForDelivered(1)]);

    const devicesIn = (standIn: BotStandIn): string[] => ['prod-1', 'gw-1', 'gw-2', 'lab-1'].filter((device) => standIn.delivered.some((r) => messageText(r).includes(`设备 ${device} 离线`)));
    assert.deepEqual(devicesIn(production), ['prod-1', 'lab-1']);
    assert.deepEqual(devicesIn(gateway), ['gw-1', 'gw-2']);
    assert.deepEqual(devicesIn(oncall), ['gw-2']);
    assert.deepEqual(devicesIn(oncallFeishu), ['gw-2']);

    // Critical firing: DingTalk `at` plus @mobile in the text; Feishu <at> tags.
    const oncallBody = oncall.delivered[0]?.body as { at: { atMobiles: string[]; isAtAll: boolean }; markdown: { text: string } };
    assert.deepEqual(oncallBody.at, { atMobiles: ['13800000001', '13800000002'], isAtAll: false });
    assert.match(oncallBody.markdown.text, /@13800000001 @13800000002$/);
    assert.ok(messageText(oncallFeishu.delivered[0]!).includes('<at id=ou_abc123></at> <at id=all></at>'));
    // No mentions configured on the gateway bot, and none for non-critical alerts on production.
    assert.ok(!messageText(gateway.delivered[0]!).includes('<at '));
    const productionBody = production.delivered[0]?.body as { at: { atMobiles: string[]; isAtAll: boolean } };
    assert.deepEqual(productionBody.at, { atMobiles: [], isAtAll: false });
    // The unsigned on-call Feishu bot got no signature fields.
    assert.equal((oncallFeishu.delivered[0]?.body as { sign?: string }).sign, undefined);
  });

  test('with the environment only, a critical alert mentions DINGTALK_AT_MOBILES / FEISHU_AT_USER_IDS; its resolution does not', async () => {
    const clock = new JumpClock();
    const dingtalk = await BotStandIn.start({ platform: 'dingtalk', now: () => clock.now() });
    const feishu = await BotStandIn.start({ platform: 'feishu', now: () => clock.now() });
    const dir = tempDir('notifier-mentions-');
    const config = loadConfig({
      NOTIFIER_TOKEN: TOKEN,
      NOTIFIER_QUEUE_DIR: dir.path,
      NOTIFIER_PORT: '0',
      DINGTALK_WEBHOOK_URL: dingtalk.url,
      DINGTALK_AT_MOBILES: '13900000009',
      DINGTALK_AT_ALL: 'true',
      FEISHU_WEBHOOK_URL: feishu.url,
      FEISHU_AT_USER_IDS: 'all',
    });
    const notifier = await startNotifier(config, captureLog().log, { clock, defaultMetrics: false });
    cleanups.push(() => dir.remove(), () => dingtalk.stop(), () => feishu.stop(), () => notifier.stop());
    const critical = deviceAlert('esc-1', { labels: { severity: 'critical', alertname: 'DeviceOfflineEscalation' } });
    assert.equal((await postWebhook(notifier.port, notification([critical]))).status, 200);
    await Promise.all([dingtalk.waitForDelivered(1), feishu.waitForDelivered(1)]);
    const resolved = { ...critical, status: 'resolved' as const, endsAt: '2026-11-23T08:00:00Z' };
    assert.equal((await postWebhook(notifier.port, notification([resolved]))).status, 200);
    await Promise.all([dingtalk.waitForDelivered(2), feishu.waitForDelivered(2)]);
    const [firingDt, resolvedDt] = dingtalk.delivered.map((r) => r.body as { at: { atMobiles: string[]; isAtAll: boolean }; markdown: { text: string } });
    assert.deepEqual(firingDt?.at, { atMobiles: ['13900000009'], isAtAll: true });
    assert.match(firingDt?.markdown.text ?? '', /@13900000009 @所有人$/);
    assert.deepEqual(resolvedDt?.at, { atMobiles: [], isAtAll: false });
    assert.match(resolvedDt?.markdown.text ?? '', /\*\*持续\*\*: 2小时/);
    assert.ok(messageText(feishu.delivered[0]!).includes('<at id=all></at>'));
    assert.ok(!messageText(feishu.delivered[1]!).includes('<at'));
    await until('queues empty', () => readdirSync(join(dir.path, 'queue', 'dingtalk')).length === 0);
  });
});

describe('Grafana\'s documented example notification, end to end', () => {
  /**
   * Verbatim from Grafana's documentation, "Configure the webhook notifier for
   * Alerting" → "Webhook JSON payload" (grafana/grafana
   * docs/sources/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier.md,
   * https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/).
   */
  const GRAFANA_EXAMPLE = String.raw`{
  "receiver": "My Super Webhook",
  "status": "firing",
  "orgId": 1,
  "alerts": [
    {
      "status": "firing",
      "labels": {
        "alertname": "High memory usage",
        "team": "blue",
        "zone": "us-1"
      },
      "annotations": {
        "description": "The system has high memory usage",
        "runbook_url": "https://myrunbook.com/runbook/1234",
        "summary": "This alert was triggered for zone us-1"
      },
      "startsAt": "2021-10-12T09:51:03.157076+02:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
      "fingerprint": "c6eadffa33fcdf37",
      "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
      "dashboardURL": "",
      "panelURL": "",
      "values": {
        "B": 44.23943737541908,
        "C": 1
      }
    },
    {
      "status": "firing",
      "labels": {
        "alertname": "High CPU usage",
        "team": "blue",
        "zone": "eu-1"
      },
      "annotations": {
        "description": "The system has high CPU usage",
        "runbook_url": "https://myrunbook.com/runbook/1234",
        "summary": "This alert was triggered for zone eu-1"
      },
      "startsAt": "2021-10-12T09:56:03.157076+02:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
      "fingerprint": "bc97ff14869b13e3",
      "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
      "dashboardURL": "",
      "panelURL": "",
      "values": {
        "B": 44.23943737541908,
        "C": 1
      }
    }
  ],
  "groupLabels": {},
  "commonLabels": {
    "team": "blue"
  },
  "commonAnnotations": {},
  "externalURL": "https://play.grafana.org/",
  "version": "1",
  "groupKey": "{}:{}",
  "truncatedAlerts": 0,
  "title": "[FIRING:2]  (blue)",
  "state": "alerting",
  "message": "**Firing**\n\nLabels:\n - alertname = T2\n - team = blue\n - zone = us-1\nAnnotations:\n - description = This is the alert rule checking the second system\n - runbook_url = https://myrunbook.com\n - summary = This is my summary\nSource: https://play.grafana.org/alerting/1afz29v7z/edit\nSilence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1\n\nLabels:\n - alertname = T1\n - team = blue\n - zone = eu-1\nAnnotations:\nSource: https://play.grafana.org/alerting/d1rdpdv7k/edit\nSilence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1\n"
}`;

  test('is accepted and rendered on DingTalk (markdown) and Feishu (red card), in Chinese', async () => {
    const { notifier, dingtalk, feishu } = await simpleRig();
    const reply = await postWebhook(notifier.port, GRAFANA_EXAMPLE);
    assert.equal(reply.status, 200, reply.body);
    await Promise.all([dingtalk.waitForDelivered(1), feishu.waitForDelivered(1)]);

    const ding = dingtalk.delivered[0]?.body as { msgtype: string; markdown: { title: string; text: string }; at: unknown };
    assert.equal(ding.msgtype, 'markdown');
    assert.equal(ding.markdown.title, '【告警】This alert was triggered for zone us-1 等 2 条');
    assert.equal(
      ding.markdown.text,
      [
        '#### 【告警】This alert was triggered for zone us-1 等 2 条',
        '🔴 **告警** This alert was triggered for zone us-1',
        '> The system has high memory usage',
        '- **数值**: B=44.2394, C=1',
        '- **开始于**: 2021-10-12 15:51:03',
        '[静默](https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1) | [规则](https://play.grafana.org/alerting/1afz29v7z/edit)',
        '---',
        '🔴 **告警** This alert was triggered for zone eu-1',
        '> The system has high CPU usage',
        '- **数值**: B=44.2394, C=1',
        '- **开始于**: 2021-10-12 15:56:03',
        '[静默](https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1) | [规则](https://play.grafana.org/alerting/d1rdpdv7k/edit)',
      ].join('\n\n'),
    );
    assert.deepEqual(ding.at, { atMobiles: [], isAtAll: false });

    const card = (feishu.delivered[0]?.body as { msg_type: string; card: { header: { template: string; title: { content: string } }; elements: { tag: string; text?: { content: string } }[] } });
    assert.equal(card.msg_type, 'interactive');
    assert.equal(card.card.header.template, 'red');
    assert.equal(card.card.header.title.content, '【告警】This alert was triggered for zone us-1 等 2 条');
    assert.deepEqual(card.card.elements.map((element) => element.tag), ['div', 'hr', 'div']);
    assert.equal(
      card.card.elements[0]?.text?.content,
      [
        '🔴 **告警** This alert was triggered for zone us-1',
        'The system has high memory usage',
        '**数值**: B=44.2394, C=1',
        '**开始于**: 2021-10-12 15:51:03',
        '[静默](https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1) | [规则](https://play.grafana.org/alerting/1afz29v7z/edit)',
      ].join('\n'),
    );
    assert.match(card.card.elements[2]?.text?.content ?? '', /^🔴 \*\*告警\*\* This alert was triggered for zone eu-1\n/);
  });
});

/**
 * The notifier in-process, against local DingTalk and Feishu stand-ins that
 * check signatures, keywords and rate limits as the real services do
 * (test/harness/im-bots.ts). The clock jumps instead of waiting, so backoff and
 * a minute of rate limiting take no real time and every run is the same.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { startNotifier, type RunningNotifier } from '../../notifier/app.ts';
import type { BotConfig, NotifierConfig } from '../../notifier/config.ts';
import { BotStandIn, messageText, type StandInOptions } from '../harness/im-bots.ts';
import { bot, captureLog, deviceAlert, JumpClock, notification, notifierConfig, postWebhook, tempDir, type CapturedLog } from '../harness/notifier-app.ts';

const DINGTALK_SECRET = 'SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd';
const FEISHU_SECRET = 'feishu-signing-secret-42';

interface Rig {
  readonly notifier: RunningNotifier;
  readonly dingtalk: BotStandIn;
  readonly feishu: BotStandIn;
  readonly clock: JumpClock;
  readonly logs: CapturedLog;
  readonly queueDir: string;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(() => undefined);

async function rig(options: {
  dingtalk?: Partial<StandInOptions>;
  feishu?: Partial<StandInOptions>;
  dingtalkBot?: Partial<BotConfig>;
  feishuBot?: Partial<BotConfig>;
  config?: Partial<NotifierConfig>;
  /** How far the platforms' clocks are ahead of the notifier's. */
  platformClockAheadMs?: number;
} = {}): Promise<Rig> {
  const clock = new JumpClock();
  const now = (): number => clock.now() + (options.platformClockAheadMs ?? 0);
  const dingtalk = await BotStandIn.start({ platform: 'dingtalk', secret: DINGTALK_SECRET, now, ...options.dingtalk });
  const feishu = await BotStandIn.start({ platform: 'feishu', secret: FEISHU_SECRET, now, ...options.feishu });
  const dir = tempDir('notifier-delivery-');
  const logs = captureLog();
  const config = notifierConfig(
    dir.path,
    [
      bot('dingtalk', 'dingtalk', dingtalk.url, { secret: DINGTALK_SECRET, ...options.dingtalkBot }),
      bot('feishu', 'feishu', feishu.url, { secret: FEISHU_SECRET, ...options.feishuBot }),
    ],
    options.config,
  );
  const notifier = await startNotifier(config, logs.log, { clock, defaultMetrics: false, backoff: { baseMs: 1000, maxMs: 60_000 } });
  cleanups.push(() => dir.remove(), () => dingtalk.stop(), () => feishu.stop(), () => notifier.stop());
  return { notifier, dingtalk, feishu, clock, logs, queueDir: dir.path };
}

const queued = (queueDir: string, botName: string): string[] => readdirSync(join(queueDir, 'queue', botName));
const dead = (queueDir: string, botName: string): string[] => readdirSync(join(queueDir, 'dead', botName));

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits until the metric reaches `expected` (it is updated just after the queue files), then returns it. */
async function settledMetric(notifier: RunningNotifier, name: string, labels: string, expected: number): Promise<number> {
  const deadline = Date.now() + 5000;
  let value = await metric(notifier, name, labels);
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    value = await metric(notifier, name, labels);
  }
  return value;
}

async function metric(notifier: RunningNotifier, name: string, labels: string): Promise<number> {
  const text = await notifier.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('notifier delivery', () => {
  test('a signed alert reaches both bots, rendered, and leaves the queue', async () => {
    const { notifier, dingtalk, feishu, queueDir } = await rig();
    const reply = await postWebhook(notifier.port, notification([deviceAlert('dev-001')]));
    assert.equal(reply.status, 200, reply.body);
    await Promise.all([dingtalk.waitForDelivered(1), feishu.waitForDelivered(1)]);
    await until('queue emptied', () => queued(queueDir, 'dingtalk').length === 0 && queued(queueDir, 'feishu').length === 0);

    assert.equal(dingtalk.requests.length, 1);
    const ding = dingtalk.requests[0];
    assert.ok(ding?.accepted);
    assert.match(ding.url.search, /timestamp=\d{13}&sign=/);
    const dingText = messageText(ding);
    for (const expected of ['设备 dev-001 离线', '**设备**: dev-001', '**位置**: warehouse-a', '**分组**: production', '**开始于**: 2026-11-23 14:00:00', '[看板](http://grafana.local/d/sensorflow-devices)', '[静默](http://grafana.local/alerting/silence/new?matcher=device%3Ddev-001)']) {
      assert.ok(dingText.includes(expected), `DingTalk text lacks ${expected}:\n${dingText}`);
    }
    assert.equal(feishu.requests.length, 1);
    const card = feishu.requests[0]?.body as { timestamp: string; sign: string; card: { header: { template: string } } };
    assert.match(card.timestamp, /^\d{10}$/);
    assert.equal(card.card.header.template, 'red');
    assert.ok(messageText(feishu.requests[0]!).includes('**设备**: dev-001'));
    assert.equal(await settledMetric(notifier, 'notifier_notifications_delivered_total', 'bot="dingtalk"', 1), 1);
  });

  test('a resolved alert is green on Feishu and says how long it was down', async () => {
    const { notifier, dingtalk, feishu } = await rig({ config: { language: 'en' } });
    const resolved = deviceAlert('dev-002', { status: 'resolved', startsAt: '2026-11-23T06:00:00Z', endsAt: '2026-11-23T07:05:30Z' });
    assert.equal((await postWebhook(notifier.port, notification([resolved]))).status, 200);
    await Promise.all([dingtalk.waitForDelivered(1), feishu.waitForDelivered(1)]);
    const card = feishu.delivered[0]?.body as { card: { header: { template: string; title: { content: string } } } };
    assert.equal(card.card.header.template, 'green');
    assert.equal(card.card.header.title.content, '[Alert RESOLVED] Device dev-002 is offline');
    const text = messageText(dingtalk.delivered[0]!);
    assert.ok(text.includes('**Lasted**: 1h 5m'), text);
    assert.ok(text.includes('**Resolved at**: 2026-11-23 15:05:30'), text);
  });

  test('5xx, a dropped connection and "send too fast" are retried with backoff until delivered', async () => {
    const { notifier, dingtalk, clock } = await rig();
    dingtalk.failNext(
      { status: 503, body: 'Service Unavailable' },
      { dropConnection: true },
      { status: 200, body: { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' } },
    );
    const start = clock.now();
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-003')]))).status, 200);
    await dingtalk.waitForDelivered(1);
    assert.deepEqual(
      dingtalk.requests.map((r) => r.status),
      [503, 0, 200, 200],
    );
    assert.deepEqual(dingtalk.requests.map((r) => r.accepted), [false, false, false, true]);
    // The same alert each time; backoff 1 s, 2 s, 4 s on the notifier's clock.
    for (const request of dingtalk.requests.slice(0, 1).concat(dingtalk.requests.slice(2))) assert.ok(messageText(request).includes('dev-003'));
    assert.ok(clock.now() - start >= 7000, `waited ${clock.now() - start} ms`);
    assert.equal(await metric(notifier, 'notifier_send_failures_total', 'bot="dingtalk",reason="server"'), 1);
    assert.equal(await metric(notifier, 'notifier_send_failures_total', 'bot="dingtalk",reason="network"'), 1);
    assert.equal(await metric(notifier, 'notifier_send_failures_total', 'bot="dingtalk",reason="rate-limited"'), 1);
  });

  test('a wrong DingTalk secret is not retried: one request, one log line saying what to fix, kept in dead/', async () => {
    const { notifier, dingtalk, feishu, logs, queueDir } = await rig({ dingtalkBot: { secret: 'SECwrong' } });
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-004')]))).status, 200);
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-005')]))).status, 200);
    await feishu.waitForDelivered(2);
    await until('both in dead/', () => dead(queueDir, 'dingtalk').length === 2 && queued(queueDir, 'dingtalk').length === 0);
    assert.equal(dingtalk.requests.length, 2, 'one request per notification, no retry');
    assert.ok(dingtalk.requests.every((r) => (JSON.parse(r.reply) as { errcode: number }).errcode === 310000));
    const errors = logs.lines().filter((line) => line.level === 50);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(String(errors[0]?.msg), /DingTalk bot "dingtalk" rejected the signature: the secret does not match the bot's 加签 secret/);
    assert.match(String(errors[0]?.msg), /sign not match/);
    assert.ok(!JSON.stringify(logs.lines()).includes(dingtalk.token), 'the access token never appears in logs');
    assert.ok(!JSON.stringify(logs.lines()).includes('SECwrong'), 'the secret never appears in logs');
    const record = JSON.parse(readFileSync(join(queueDir, 'dead', 'dingtalk', dead(queueDir, 'dingtalk')[0]!), 'utf8')) as { reason: string };
    assert.match(record.reason, /^signature: errcode 310000/);
    assert.equal(queued(queueDir, 'dingtalk').length, 0);
    assert.equal(await metric(notifier, 'notifier_send_failures_total', 'bot="dingtalk",reason="signature"'), 2);
  });

  test('keyword and IP-allowlist refusals are not retried and name the setting to change', async () => {
    const { notifier, dingtalk, feishu, logs, queueDir } = await rig({ dingtalk: { keyword: '传感器' }, feishu: { refuseIp: true } });
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-006')]))).status, 200);
    await until('both in dead/', () => dead(queueDir, 'dingtalk').length === 1 && dead(queueDir, 'feishu').length === 1);
    assert.equal(dingtalk.requests.length, 1);
    assert.equal(feishu.requests.length, 1);
    const messages = logs.lines().filter((line) => line.level === 50).map((line) => String(line.msg));
    assert.equal(messages.length, 2);
    assert.ok(messages.some((m) => /DingTalk bot "dingtalk" requires a custom keyword/.test(m) && /keywords not in content/.test(m)), messages.join('\n'));
    assert.ok(messages.some((m) => /Feishu bot "feishu" refuses this host's IP: add the notifier host's public IP/.test(m) && /19022/.test(m)), messages.join('\n'));
  });

  test('a configured keyword makes the DingTalk bot accept the message', async () => {
    const { notifier, dingtalk } = await rig({ dingtalk: { keyword: '传感器' }, dingtalkBot: { keyword: '传感器' } });
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-007')]))).status, 200);
    await dingtalk.waitForDelivered(1);
    assert.equal(dingtalk.requests.length, 1);
  });

  test('a wrong Feishu secret (19021) is not retried', async () => {
    const { notifier, feishu, dingtalk, logs, queueDir } = await rig({ feishuBot: { secret: 'not-the-secret' } });
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-008')]))).status, 200);
    await dingtalk.waitForDelivered(1);
    await until('in dead/', () => dead(queueDir, 'feishu').length === 1);
    assert.equal(feishu.requests.length, 1);
    assert.equal((JSON.parse(feishu.requests[0]!.reply) as { code: number }).code, 19021);
    const line = logs.lines().find((l) => l.level === 50);
    assert.match(String(line?.msg), /Feishu bot "feishu" rejected the signature: the secret does not match the bot's 签名校验 secret/);
  });

  test('signatures more than an hour off the platform clock are refused by both, and the log names the clock', async () => {
    const { notifier, dingtalk, feishu, logs, queueDir } = await rig({ platformClockAheadMs: 61 * 60_000 });
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-skew')]))).status, 200);
    await until('both in dead/', () => dead(queueDir, 'dingtalk').length === 1 && dead(queueDir, 'feishu').length === 1);
    assert.equal((JSON.parse(dingtalk.requests[0]!.reply) as { errcode: number }).errcode, 310000);
    assert.equal((JSON.parse(feishu.requests[0]!.reply) as { code: number }).code, 19021);
    const messages = logs.lines().filter((line) => line.level === 50).map((line) => String(line.msg));
    assert.equal(messages.length, 2);
    assert.ok(messages.every((m) => m.includes("or this host's clock is more than 1 hour off")), messages.join('\n'));
  });

  test('signatures 59 minutes off are still accepted', async () => {
    const { notifier, dingtalk, feishu } = await rig({ platformClockAheadMs: 59 * 60_000 });
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-skew-ok')]))).status, 200);
    await Promise.all([dingtalk.waitForDelivered(1), feishu.waitForDelivered(1)]);
  });

  test('retryable failures stop after NOTIFIER_GIVE_UP_AFTER_MS and the notification moves to dead/', async () => {
    const { notifier, dingtalk, queueDir } = await rig({ config: { giveUpAfterMs: 10 * 60_000 } });
    dingtalk.failAlways({ status: 502, body: 'Bad Gateway' });
    assert.equal((await postWebhook(notifier.port, notification([deviceAlert('dev-009')]))).status, 200);
    await until('given up', () => dead(queueDir, 'dingtalk').length === 1);
    // Attempts at 0, 1, 3, 7, 15, 31, 63 s, then every 60 s (the cap): the 16th, at 603 s, is past 10 min.
    assert.equal(dingtalk.requests.length, 16);
    assert.ok(dingtalk.requests.every((r) => r.status === 502));
    assert.equal(await settledMetric(notifier, 'notifier_notifications_given_up_total', 'bot="dingtalk"', 1), 1);
  });
});

describe('notifier storm', () => {
  test('100 alerts within a second reach each bot as digests within the platform limits, none lost', async (t) => {
    const { notifier, dingtalk, feishu } = await rig();
    // The platforms answer slower than the storm arrives: their first replies wait until every alert is queued.
    const releases = [dingtalk.holdReplies(), feishu.holdReplies()];
    const devices = Array.from({ length: 100 }, (_, index) => `storm-${String(index).padStart(3, '0')}`);
    const posting = performance.now();
    const replies = await Promise.all(devices.map((device) => postWebhook(notifier.port, notification([deviceAlert(device)]))));
    t.diagnostic(`100 notifications posted and fsync'd in ${Math.round(performance.now() - posting)} ms`);
    assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
    for (const release of releases) release();

    const allListed = (standIn: BotStandIn): boolean => devices.every((device) => standIn.delivered.some((request) => messageText(request).includes(`设备 ${device} 离线`)));
    await until('every alert delivered to DingTalk', () => allListed(dingtalk), 30_000);
    await until('every alert delivered to Feishu', () => allListed(feishu), 30_000);
    for (const standIn of [dingtalk, feishu]) {
      // Never refused for rate: the limiter kept under the documented limits.
      assert.ok(standIn.requests.every((r) => r.accepted), `${standIn.platform}: ${standIn.requests.filter((r) => !r.accepted).map((r) => r.reply).join(', ')}`);
      // Each alert exactly once.
      for (const device of devices) {
        const hits = standIn.delivered.filter((request) => messageText(request).includes(`设备 ${device} 离线`)).length;
        assert.equal(hits, 1, `${standIn.platform}: ${device} delivered ${hits} times`);
      }
      assert.ok(standIn.delivered.length < 100, `${standIn.platform} sent ${standIn.delivered.length} messages: digests expected`);
      assert.ok(standIn.delivered.some((request) => /告警汇总：\d+ 条通知/.test(messageText(request))), 'a digest was sent');
    }
    for (const standIn of [dingtalk, feishu]) {
      const digests = standIn.delivered.filter((request) => /告警汇总/.test(messageText(request))).length;
      t.diagnostic(`${standIn.platform}: ${standIn.delivered.length} messages (${digests} digests) for 100 alerts, largest body ${Math.max(...standIn.delivered.map((r) => Buffer.byteLength(r.rawBody)))} bytes`);
    }
    const times = (standIn: BotStandIn): number[] => standIn.delivered.map((r) => r.arrivedMs);
    const maxInWindow = (values: number[], windowMs: number): number => Math.max(...values.map((t) => values.filter((u) => u >= t && u < t + windowMs).length));
    assert.ok(maxInWindow(times(dingtalk), 60_000) <= 20);
    assert.ok(maxInWindow(times(feishu), 1_000) <= 5);
    assert.ok(maxInWindow(times(feishu), 60_000) <= 100);
    assert.equal(await settledMetric(notifier, 'notifier_notifications_delivered_total', 'bot="dingtalk"', 100), 100);
    assert.equal(await settledMetric(notifier, 'notifier_notifications_delivered_total', 'bot="feishu"', 100), 100);
    assert.ok((await metric(notifier, 'notifier_notifications_merged_total', 'bot="dingtalk"')) > 0);
  });
});

describe('notifier storm of 2,000 devices', () => {
  /**
   * 2,000 devices at 40 locations go offline at once: Grafana posts one
   * notification per device (the policy groups by alertname, device,
   * instance), 20 at a time, while the bots are already sending. The
   * stand-ins judge each message on its ARRIVAL time over sliding windows, as
   * the platforms do (test/harness/im-bots.ts): Feishu refuses the 6th within
   * any second and the 101st within any minute, DingTalk the 21st within any
   * minute. The clock jumps, so a request can arrive (and be answered) well
   * after it left: a send counts against the window until its reply is back.
   */
  test('every device and location reaches each bot exactly once, never refused for rate, within 5/s and 100/min (Feishu) and 20/min (DingTalk)', async (t) => {
    const { notifier, dingtalk, feishu, logs } = await rig();
    const devices = Array.from({ length: 2000 }, (_, index) => ({ device: `storm-${String(index).padStart(4, '0')}`, location: `site-${String(index % 40).padStart(2, '0')}` }));
    const posting = performance.now();
    const statuses = new Set<number>();
    for (let index = 0; index < devices.length; index += 20) {
      const slice = devices.slice(index, index + 20);
      for (const reply of await Promise.all(slice.map(({ device, location }) => postWebhook(notifier.port, notification([deviceAlert(device, { labels: { location } })]))))) statuses.add(reply.status);
    }
    t.diagnostic(`2,000 notifications posted and fsync'd in ${Math.round(performance.now() - posting)} ms`);
    assert.deepEqual(statuses, new Set([200]));

    // The line naming a device also names its location: "设备 storm-0001 离线 (storm-0001 · site-01 · production)" or the detailed block.
    const named = (standIn: BotStandIn, device: string): number => standIn.delivered.filter((request) => messageText(request).includes(`设备 ${device} 离线`)).length;
    const allNamed = (standIn: BotStandIn): boolean => devices.every(({ device }) => named(standIn, device) > 0);
    await until('every device delivered to DingTalk', () => allNamed(dingtalk), 120_000);
    await until('every device delivered to Feishu', () => allNamed(feishu), 120_000);

    const arrivals = (standIn: BotStandIn): number[] => standIn.requests.map((r) => r.arrivedMs);
    const maxInWindow = (values: number[], windowMs: number): number => Math.max(...values.map((time) => values.filter((other) => other >= time && other < time + windowMs).length));
    for (const standIn of [dingtalk, feishu]) {
      const refused = standIn.requests.filter((r) => !r.accepted);
      assert.deepEqual(refused.map((r) => r.reply), [], `${standIn.platform}: refused messages`);
      for (const { device, location } of devices) {
        assert.equal(named(standIn, device), 1, `${standIn.platform}: ${device} delivered ${named(standIn, device)} times`);
        const text = standIn.delivered.map(messageText).find((message) => message.includes(`设备 ${device} 离线`))!;
        const block = text.slice(text.indexOf(`设备 ${device} 离线`), text.indexOf(`设备 ${device} 离线`) + 200);
        assert.ok(block.includes(location), `${standIn.platform}: ${device}'s location ${location} is named beside it`);
      }
      const span = (Math.max(...arrivals(standIn)) - Math.min(...arrivals(standIn))) / 1000;
      t.diagnostic(`${standIn.platform}: ${standIn.delivered.length} messages over ${span.toFixed(1)} s (fake clock) for 2,000 alerts; busiest second ${maxInWindow(arrivals(standIn), 1000)}, busiest minute ${maxInWindow(arrivals(standIn), 60_000)}`);
    }
    // Every request counts, accepted or not (none was refused above).
    assert.ok(maxInWindow(arrivals(dingtalk), 60_000) <= 20, 'DingTalk: at most 20 in any minute');
    assert.ok(maxInWindow(arrivals(feishu), 1000) <= 5, 'Feishu: at most 5 in any second');
    assert.ok(maxInWindow(arrivals(feishu), 60_000) <= 100, 'Feishu: at most 100 in any minute');
    assert.equal(await settledMetric(notifier, 'notifier_notifications_delivered_total', 'bot="dingtalk"', 2000), 2000);
    assert.equal(await settledMetric(notifier, 'notifier_notifications_delivered_total', 'bot="feishu"', 2000), 2000);
    assert.deepEqual(logs.lines().filter((line) => line.msg === 'delivery failed; will retry'), [], 'no retry: nothing was refused');
  });
});

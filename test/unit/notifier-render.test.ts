import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BotConfig, Routing } from '../../notifier/config.ts';
import { chooseBatch } from '../../notifier/delivery/render.ts';
import type { Job } from '../../notifier/delivery/journal.ts';
import { notificationId, parseNotification } from '../../notifier/grafana/payload.ts';
import { DINGTALK_MAX_BODY_BYTES, renderDingTalk } from '../../notifier/render/dingtalk.ts';
import { FEISHU_MAX_BODY_BYTES, renderFeishu } from '../../notifier/render/feishu.ts';
import { formatDuration, formatTime } from '../../notifier/render/view.ts';
import { routeNotification } from '../../notifier/routing.ts';
import { bot, deviceAlert, notification } from '../harness/notifier-app.ts';

const dingtalkBot: BotConfig = bot('dt', 'dingtalk', 'https://oapi.dingtalk.com/robot/send?access_token=x', { mentions: { mobiles: ['13800000000'], userIds: [], all: false } });
const feishuBot: BotConfig = bot('fs', 'feishu', 'https://open.feishu.cn/open-apis/bot/v2/hook/x', { mentions: { mobiles: [], userIds: ['ou_1'], all: false } });
const zh = { language: 'zh', timeZone: 'Asia/Shanghai' } as const;
const en = { language: 'en', timeZone: 'UTC' } as const;

describe('formatting', () => {
  test('times in the configured zone, durations in words', () => {
    assert.equal(formatTime('2026-11-23T06:00:00Z', 'Asia/Shanghai'), '2026-11-23 14:00:00');
    assert.equal(formatTime('2021-10-12T09:51:03.157076+02:00', 'UTC'), '2021-10-12 07:51:03');
    assert.equal(formatDuration(3725_000, 'zh'), '1小时2分');
    assert.equal(formatDuration(3725_000, 'en'), '1h 2m');
    assert.equal(formatDuration(42_000, 'zh'), '42秒');
    assert.equal(formatDuration(90_061_000, 'en'), '1d 1h 1m');
    assert.equal(formatDuration(0, 'en'), '0s');
  });
});

describe('DingTalk markdown', () => {
  test('English, with fallbacks to Grafana\'s generic annotations and instance for pipeline rules', () => {
    const alert = deviceAlert('x', { labels: { alertname: 'IngestorDown', device: '', instance: 'ingestor-1', group: '' }, annotations: { summary: 'Ingestor down', description: 'No stats for 2 minutes' } });
    const { body } = renderDingTalk({ notifications: [notification([alert])] }, { ...en, bot: dingtalkBot });
    assert.equal(body.markdown.title, '[Alert FIRING] Ingestor down');
    assert.match(body.markdown.text, /🔴 \*\*FIRING · warning\*\* Ingestor down\n\n> No stats for 2 minutes\n\n- \*\*Device\*\*: ingestor-1\n\n- \*\*Location\*\*: warehouse-a\n\n- \*\*Value\*\*: B=0, C=1\n\n- \*\*Since\*\*: 2026-11-23 06:00:00/);
    assert.ok(!body.markdown.text.includes('**Group**'), 'empty labels are left out');
  });

  test('critical firing alerts mention; warnings do not', () => {
    const critical = deviceAlert('c', { labels: { severity: 'critical' } });
    const withMention = renderDingTalk({ notifications: [notification([critical])] }, { ...zh, bot: dingtalkBot }).body;
    assert.deepEqual(withMention.at, { atMobiles: ['13800000000'], isAtAll: false });
    assert.match(withMention.markdown.text, /\n\n@13800000000$/);
    const without = renderDingTalk({ notifications: [notification([deviceAlert('w')])] }, { ...zh, bot: dingtalkBot }).body;
    assert.deepEqual(without.at, { atMobiles: [], isAtAll: false });
    assert.ok(!without.markdown.text.includes('@138'));
  });

  test('a group of 500 alerts stays under the size limit: details first, then one line each, then a count', () => {
    const alerts = Array.from({ length: 500 }, (_, i) => deviceAlert(`bulk-${i}`));
    const rendered = renderDingTalk({ notifications: [notification(alerts)] }, { ...zh, bot: dingtalkBot });
    const size = Buffer.byteLength(JSON.stringify(rendered.body));
    assert.ok(size <= DINGTALK_MAX_BODY_BYTES, `${size} bytes`);
    assert.ok(size > DINGTALK_MAX_BODY_BYTES * 0.9, `uses the room it has: ${size} bytes`);
    assert.equal(rendered.total, 500);
    assert.ok(rendered.listed > 20 && rendered.listed < 500, `${rendered.listed} listed`);
    assert.match(rendered.body.markdown.text, new RegExp(`…另有 ${500 - rendered.listed} 条未列出，详见 Grafana`));
    assert.ok(rendered.body.markdown.text.includes('**设备**: bulk-0'), 'the first alerts in full');
    assert.match(rendered.body.markdown.text, /- 🔴 \[warning\] 设备 bulk-\d+ 离线 \(bulk-\d+ · warehouse-a · production\) = B=0, C=1 · 开始于 2026-11-23 14:00:00/);
  });
});

describe('Feishu card', () => {
  test('red while firing, green when all resolved, mentions as <at>', () => {
    const firing = renderFeishu({ notifications: [notification([deviceAlert('a', { labels: { severity: 'critical' } }), deviceAlert('b', { status: 'resolved', endsAt: '2026-11-23T06:30:00Z' })])] }, { ...zh, bot: feishuBot }).body;
    assert.equal(firing.card.header.template, 'red');
    assert.equal(firing.card.elements[0]?.text?.content, '<at id=ou_1></at>');
    const resolved = renderFeishu({ notifications: [notification([deviceAlert('b', { status: 'resolved', endsAt: '2026-11-23T06:30:00Z' })])] }, { ...zh, bot: feishuBot }).body;
    assert.equal(resolved.card.header.template, 'green');
    assert.equal(resolved.card.header.title.content, '【已恢复】设备 b 离线');
    assert.match(resolved.card.elements[0]?.text?.content ?? '', /\*\*恢复于\*\*: 2026-11-23 14:30:00\n\*\*持续\*\*: 30分/);
  });

  test('a group of 500 alerts stays under 20 KB', () => {
    const alerts = Array.from({ length: 500 }, (_, i) => deviceAlert(`bulk-${i}`, { labels: { severity: 'critical' } }));
    const rendered = renderFeishu({ notifications: [notification(alerts)] }, { ...zh, bot: feishuBot });
    const signed = { timestamp: '1763877600', sign: 'x'.repeat(44), ...rendered.body };
    assert.ok(Buffer.byteLength(JSON.stringify(signed)) <= FEISHU_MAX_BODY_BYTES + 100);
    assert.ok(Buffer.byteLength(JSON.stringify(signed)) < 20 * 1024);
    assert.equal(rendered.total, 500);
    assert.match(JSON.stringify(rendered.body), new RegExp(`…另有 ${500 - rendered.listed} 条未列出`));
  });
});

describe('digests', () => {
  const jobs = (count: number): Job[] =>
    Array.from({ length: count }, (_, i) => {
      const n = notification([deviceAlert(`d-${i}`)]);
      return { id: notificationId(n), bot: 'dt', receivedAt: i, notification: n, file: `${i}.json` };
    });

  test('one notification alone while the rate limit has room for every queued one', () => {
    const chosen = chooseBatch(dingtalkBot, jobs(5), true, zh);
    assert.equal(chosen.jobs.length, 1);
  });

  test('otherwise as many as fit in one message, every alert listed', () => {
    const queued = jobs(400);
    const chosen = chooseBatch(dingtalkBot, queued, false, zh);
    assert.ok(chosen.jobs.length > 50 && chosen.jobs.length < 400, `${chosen.jobs.length} merged`);
    assert.equal(chosen.rendered.listed, chosen.rendered.total);
    const text = (chosen.rendered.body as { markdown: { text: string; title: string } }).markdown;
    assert.equal(text.title, `告警汇总：${chosen.jobs.length} 条通知（${chosen.jobs.length} 条告警，0 条恢复）`);
    for (const job of chosen.jobs) assert.ok(text.text.includes(`设备 ${job.notification.alerts[0]?.labels.device} 离线`));
    assert.ok(Buffer.byteLength(JSON.stringify(chosen.rendered.body)) <= DINGTALK_MAX_BODY_BYTES);
  });
});

describe('payload and routing', () => {
  test('the id is stable for the same content and differs when an alert resolves', () => {
    const alert = deviceAlert('same');
    const a = notification([alert]);
    assert.equal(notificationId(a), notificationId(JSON.parse(JSON.stringify(a)) as typeof a));
    assert.notEqual(notificationId(a), notificationId(notification([{ ...alert, status: 'resolved', endsAt: '2026-11-23T07:00:00Z' }], { groupKey: a.groupKey })));
  });

  test('values may be null and extra fields pass', () => {
    const body = { ...notification([{ ...deviceAlert('n'), values: null, imageURL: 'http://x/img.png' }]), newField: { any: 1 } };
    assert.equal(parseNotification(Buffer.from(JSON.stringify(body))).ok, true);
  });

  test('each bot gets only its alerts; the status follows them', () => {
    const routing: Routing = { routes: [{ match: { group: ['production'] }, bots: ['a'] }, { match: { severity: ['critical'] }, bots: ['oncall'] }], defaultBots: ['b'] };
    const routed = routeNotification(
      notification([deviceAlert('p', { labels: { group: 'production' } }), deviceAlert('x', { labels: { group: 'lab', severity: 'critical' }, status: 'resolved', endsAt: '2026-11-23T07:00:00Z' })]),
      routing,
    );
    assert.deepEqual([...routed.keys()], ['a', 'oncall']);
    assert.equal(routed.get('oncall')?.status, 'resolved');
    assert.deepEqual(routed.get('a')?.alerts.map((alert) => alert.labels.device), ['p']);
  });
});

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { RateLimiter } from '../../notifier/delivery/limiter.ts';
import { classifyDingTalk, dingTalkSign, dingTalkUrl } from '../../notifier/platforms/dingtalk.ts';
import { classifyFeishu, feishuBody, feishuSign } from '../../notifier/platforms/feishu.ts';
import type { HttpResult } from '../../notifier/platforms/outcome.ts';
import { bot } from '../harness/notifier-app.ts';

const dt = bot('dingtalk', 'dingtalk', 'https://oapi.dingtalk.com/robot/send?access_token=abc', { secret: 'SEC000' });
const fs = bot('feishu', 'feishu', 'https://open.feishu.cn/open-apis/bot/v2/hook/abc', { secret: 'fs-secret' });
const ok = (text: string, status = 200): HttpResult => ({ ok: true, status, text });

describe('signing', () => {
  test('DingTalk: HMAC-SHA256(key=secret, msg=timestamp\\nsecret), base64, url-encoded in the query', () => {
    // Find a timestamp whose signature has "+" or "/", which must be percent-encoded.
    let ts = 1_763_877_600_000;
    while (!/[+/]/.test(dingTalkSign('SEC000', ts))) ts += 1;
    const url = new URL(dingTalkUrl(dt, ts));
    assert.equal(url.searchParams.get('timestamp'), String(ts));
    assert.equal(url.searchParams.get('sign'), createHmac('sha256', 'SEC000').update(`${ts}\nSEC000`).digest('base64'));
    assert.equal(url.searchParams.get('access_token'), 'abc');
    assert.ok(!/sign=[^&]*[+/=]/.test(url.search), `sign is percent-encoded: ${url.search}`);
  });

  test('DingTalk without a secret: the URL as given', () => {
    assert.equal(dingTalkUrl({ ...dt, secret: undefined }, 1), dt.url);
  });

  test('Feishu: HMAC-SHA256(key=timestamp\\nsecret, msg=""), base64, seconds, in the body', () => {
    const body = feishuBody(fs, { msg_type: 'interactive' }, 1_763_877_600_999) as Record<string, string>;
    assert.equal(body.timestamp, '1763877600');
    assert.equal(body.sign, createHmac('sha256', '1763877600\nfs-secret').update('').digest('base64'));
    assert.equal(body.sign, feishuSign('fs-secret', 1763877600));
    assert.equal(body.msg_type, 'interactive');
  });
});

describe('reply classification', () => {
  test('DingTalk', () => {
    assert.equal(classifyDingTalk(ok('{"errcode":0,"errmsg":"ok"}'), dt).kind, 'delivered');
    assert.deepEqual(pick(classifyDingTalk(ok('{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}'), dt)), ['retry', 'rate-limited']);
    assert.deepEqual(pick(classifyDingTalk(ok('{"errcode":310000,"errmsg":"sign not match, more: [...]"}'), dt)), ['misconfigured', 'signature']);
    assert.deepEqual(pick(classifyDingTalk(ok('{"errcode":310000,"errmsg":"keywords not in content, more: [...]"}'), dt)), ['misconfigured', 'keyword']);
    assert.deepEqual(pick(classifyDingTalk(ok('{"errcode":310000,"errmsg":"ip 1.2.3.4 not in whitelist"}'), dt)), ['misconfigured', 'ip-allowlist']);
    assert.deepEqual(pick(classifyDingTalk(ok('{"errcode":300001,"errmsg":"token is not exist"}'), dt)), ['misconfigured', 'token']);
    assert.deepEqual(pick(classifyDingTalk(ok('{"errcode":40035,"errmsg":"缺少参数 json"}'), dt)), ['rejected', 'rejected']);
    assert.deepEqual(pick(classifyDingTalk(ok('<html>busy</html>', 502), dt)), ['retry', 'server']);
    assert.deepEqual(pick(classifyDingTalk(ok('', 302), dt)), ['retry', 'rate-limited']);
    assert.deepEqual(pick(classifyDingTalk({ ok: false, error: 'connect ECONNREFUSED' }, dt)), ['retry', 'network']);
    assert.deepEqual(pick(classifyDingTalk(ok('<html>hi</html>'), dt)), ['retry', 'unexpected-reply']);
  });

  test('DingTalk sign errors without a secret say to set one', () => {
    const outcome = classifyDingTalk(ok('{"errcode":310000,"errmsg":"sign not match"}'), { ...dt, secret: undefined });
    assert.ok(outcome.kind === 'misconfigured' && outcome.fix.includes('set DINGTALK_SECRET'));
  });

  test('Feishu', () => {
    assert.equal(classifyFeishu(ok('{"code":0,"data":{},"msg":"success"}'), fs).kind, 'delivered');
    assert.equal(classifyFeishu(ok('{"StatusCode":0,"StatusMessage":"success"}'), fs).kind, 'delivered');
    assert.deepEqual(pick(classifyFeishu(ok('{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}'), fs)), ['misconfigured', 'signature']);
    assert.deepEqual(pick(classifyFeishu(ok('{"code":19022,"msg":"Ip Not Allowed"}'), fs)), ['misconfigured', 'ip-allowlist']);
    assert.deepEqual(pick(classifyFeishu(ok('{"code":19024,"msg":"Key Words Not Found"}'), fs)), ['misconfigured', 'keyword']);
    assert.deepEqual(pick(classifyFeishu(ok('{"code":9499,"msg":"too many request"}'), fs)), ['retry', 'rate-limited']);
    assert.deepEqual(pick(classifyFeishu(ok('{"code":11232,"msg":"frequency limited"}'), fs)), ['retry', 'rate-limited']);
    assert.deepEqual(pick(classifyFeishu(ok('{"code":99991400,"msg":"request trigger frequency limit"}', 429), fs)), ['retry', 'rate-limited']);
    assert.deepEqual(pick(classifyFeishu(ok('{"code":19001,"msg":"param invalid: incoming webhook access token invalid"}', 400), fs)), ['misconfigured', 'token']);
    assert.deepEqual(pick(classifyFeishu(ok('{"code":19002,"msg":"params error"}', 400), fs)), ['rejected', 'rejected']);
    assert.deepEqual(pick(classifyFeishu(ok('oops', 503), fs)), ['retry', 'server']);
  });
});

function pick(outcome: ReturnType<typeof classifyFeishu>): [string, string] {
  return [outcome.kind, outcome.kind === 'delivered' ? '' : outcome.reason];
}

describe('RateLimiter', () => {
  test('DingTalk: 20 per minute, sliding', () => {
    const limiter = new RateLimiter([{ limit: 20, windowMs: 60_000 }]);
    for (let i = 0; i < 20; i += 1) {
      assert.equal(limiter.waitMs(i * 1000), 0);
      limiter.record(i * 1000);
    }
    assert.equal(limiter.waitMs(20_000), 40_000, 'until the first send leaves the window');
    assert.equal(limiter.waitMs(59_999), 1, 'a send at 0 counts until 60 000');
    assert.equal(limiter.waitMs(60_000), 0);
    assert.equal(limiter.remaining(60_000), 1);
  });

  test('Feishu: 5 per second and 100 per minute at once', () => {
    const limiter = new RateLimiter([{ limit: 5, windowMs: 1000 }, { limit: 100, windowMs: 60_000 }]);
    for (let i = 0; i < 5; i += 1) limiter.record(0);
    assert.equal(limiter.waitMs(10), 990);
    assert.equal(limiter.remaining(10), 95, 'the minute budget');
    let now = 1000;
    while (limiter.remaining(now) > 0) {
      now += limiter.waitMs(now);
      limiter.record(now);
    }
    assert.ok(now < 60_000);
    assert.equal(limiter.waitMs(now), 60_000 - now + 0);
  });

  test('a send counts from when its reply came back (settle): a late arrival does not let the next ones crowd it', () => {
    const limiter = new RateLimiter([{ limit: 5, windowMs: 1000 }]);
    for (let i = 0; i < 4; i += 1) limiter.settle(limiter.record(0), 0);
    const slow = limiter.record(0);
    assert.equal(limiter.waitMs(0), 1000, 'five in flight or sent at 0');
    // The fifth took 700 ms to be answered: Feishu may have counted it at 700.
    limiter.settle(slow, 700);
    assert.equal(limiter.waitMs(1000), 0, 'the four at 0 have left the window');
    limiter.record(1000);
    for (let i = 0; i < 3; i += 1) limiter.record(1000);
    assert.equal(limiter.waitMs(1000), 700, 'the sixth after 700 waits for the slow one to leave: 1700');
    limiter.settle(limiter.record(1000), 900); // a reply never moves a slot back in time
    assert.equal(limiter.waitMs(1700), 300, 'five at 1000 (the one settled "at 900" included): the next at 2000');
  });

  test('canSendSeparately: within 10 s and not into the last quarter of the minute budget', () => {
    const dingtalk = new RateLimiter([{ limit: 20, windowMs: 60_000 }]);
    assert.equal(dingtalk.canSendSeparately(15, 0), true);
    assert.equal(dingtalk.canSendSeparately(16, 0), false);
    const feishu = new RateLimiter([{ limit: 5, windowMs: 1000 }, { limit: 100, windowMs: 60_000 }]);
    assert.equal(feishu.canSendSeparately(50, 0), true, '50 at 5/s go within 10 s');
    assert.equal(feishu.canSendSeparately(60, 0), false);
  });
});

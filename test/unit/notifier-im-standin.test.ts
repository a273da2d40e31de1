/**
 * The DingTalk and Feishu stand-ins (test/harness/im-bots.ts) refuse what the
 * real bots refuse for rate: counted over sliding windows on the time each
 * message arrives, with the platforms' own error replies. Feishu custom bot
 * (自定义机器人使用指南, 频率控制): 100 per minute and 5 per second per bot,
 * refused with code 11232 "frequency limited …"; DingTalk: 20 per minute,
 * errcode 130101. A test that trusted a looser stand-in would pass a notifier
 * the real Feishu throttles.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { BotStandIn } from '../harness/im-bots.ts';

let clock = 1_800_000_000_000;
const standIns: BotStandIn[] = [];
after(async () => {
  for (const standIn of standIns) await standIn.stop();
});

const feishuCard = { msg_type: 'interactive', card: { header: { title: { content: 't' } }, elements: [] } };
const dingtalkMarkdown = { msgtype: 'markdown', markdown: { title: 't', text: 'x' } };

const SECRET = 'feishu-signing-secret-42';
/** Signed as the notifier signs: timestamp in whole seconds, sign = base64(HMAC-SHA256(key=timestamp+"\n"+secret, "")). */
const signedCard = (): object => {
  const timestamp = String(Math.floor(clock / 1000));
  return { timestamp, sign: createHmac('sha256', `${timestamp}\n${SECRET}`).update('').digest('base64'), ...feishuCard };
};

async function post(standIn: BotStandIn, body: object): Promise<Record<string, unknown>> {
  const response = await fetch(standIn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

describe('Feishu stand-in: 5 per second and 100 per minute, sliding, on arrival time', () => {
  test('the 6th message within one second is refused with code 11232; one arriving 1 s after the first goes', async () => {
    const feishu = await BotStandIn.start({ platform: 'feishu', secret: SECRET, now: () => clock });
    standIns.push(feishu);
    // Across a whole-second boundary on purpose: 0.9 s … 1.3 s. Judged on Feishu's
    // whole-second timestamp, these would be 1 + 5 in two different seconds.
    const start = Math.ceil(clock / 1000) * 1000 - 100;
    const codes: unknown[] = [];
    for (let index = 0; index < 6; index += 1) {
      clock = start + index * 80;
      codes.push((await post(feishu, signedCard())).code);
    }
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 11232]);
    assert.match(feishu.requests.at(-1)!.reply, /"msg":"frequency limited/);
    clock = start + 999;
    assert.equal((await post(feishu, signedCard())).code, 11232, 'still within 1 s of the first');
    clock = start + 1000;
    assert.equal((await post(feishu, signedCard())).code, 0, 'the first left the window');
  });

  test('the 101st message within one minute is refused, at 5 per second', async () => {
    const feishu = await BotStandIn.start({ platform: 'feishu', now: () => clock });
    standIns.push(feishu);
    const start = clock + 10_000;
    for (let index = 0; index < 100; index += 1) {
      clock = start + index * 200; // exactly 5 per second
      assert.equal((await post(feishu, feishuCard)).code, 0, `message ${index + 1}`);
    }
    clock = start + 59_999;
    assert.equal((await post(feishu, feishuCard)).code, 11232, '101st within 60 s of the first');
    clock = start + 60_000;
    assert.equal((await post(feishu, feishuCard)).code, 0, 'the first left the minute');
  });
});

describe('DingTalk stand-in: 20 per minute on arrival time', () => {
  test('the 21st message within a minute is refused with errcode 130101', async () => {
    const dingtalk = await BotStandIn.start({ platform: 'dingtalk', now: () => clock });
    standIns.push(dingtalk);
    const start = clock + 10_000;
    for (let index = 0; index < 20; index += 1) {
      clock = start + index;
      assert.equal((await post(dingtalk, dingtalkMarkdown)).errcode, 0);
    }
    clock = start + 59_999;
    assert.equal((await post(dingtalk, dingtalkMarkdown)).errcode, 130101);
    clock = start + 60_000;
    assert.equal((await post(dingtalk, dingtalkMarkdown)).errcode, 0);
  });
});

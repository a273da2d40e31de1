/**
 * DingTalk custom robot (自定义机器人): signing and reply classification.
 *
 * Signing (加签): timestamp in ms, sign = urlencode(base64(HMAC-SHA256(
 * key=secret, msg=timestamp + "\n" + secret))), both as query parameters.
 * DingTalk refuses a timestamp more than an hour from its clock.
 * Replies: HTTP 200 with {"errcode":0,"errmsg":"ok"} on success;
 * 310000 with errmsg "sign not match" / "keywords not in content" /
 * "ip X not in whitelist" for the security settings; 130101 "send too fast"
 * when the bot sends more than 20 messages a minute; 300001 for a bad token.
 */
import { createHmac } from 'node:crypto';
import type { BotConfig } from '../config.ts';
import { parseReply, transportOutcome, type HttpResult, type PostJson, type SendOutcome } from './outcome.ts';

export const DINGTALK_RATE_LIMITED = 130101;
export const DINGTALK_SECURITY_ERROR = 310000;
export const DINGTALK_BAD_TOKEN = 300001;

export function dingTalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

/** The URL to post to: the webhook URL plus timestamp and sign when the bot has a secret. */
export function dingTalkUrl(bot: BotConfig, nowMs: number): string {
  if (bot.secret === undefined) return bot.url;
  const url = new URL(bot.url);
  url.searchParams.set('timestamp', String(nowMs));
  url.searchParams.set('sign', dingTalkSign(bot.secret, nowMs));
  return url.toString();
}

export function classifyDingTalk(result: HttpResult, bot: BotConfig): SendOutcome {
  const transport = transportOutcome(result, `DingTalk bot "${bot.name}"`);
  if (transport !== undefined || !result.ok) return transport ?? { kind: 'retry', reason: 'network', detail: 'no reply' };
  const reply = parseReply(result.text);
  const status = result.status;
  if (reply === undefined || typeof reply.errcode !== 'number') {
    if (status >= 400) return { kind: 'rejected', reason: 'rejected', detail: `HTTP ${status}`, status, reply: result.text };
    return { kind: 'retry', reason: 'unexpected-reply', detail: `HTTP ${status} without an errcode`, status, reply: result.text };
  }
  const code = reply.errcode;
  const message = typeof reply.errmsg === 'string' ? reply.errmsg : '';
  const detail = `errcode ${code}: ${message}`;
  if (code === 0) return { kind: 'delivered', status, reply: result.text };
  if (code === DINGTALK_RATE_LIMITED) return { kind: 'retry', reason: 'rate-limited', detail, status, reply: result.text };
  const where = `DingTalk bot "${bot.name}"`;
  if (code === DINGTALK_SECURITY_ERROR) {
    if (/sign/i.test(message)) {
      const fix = bot.secret === undefined
        ? `${where} has 加签 (signing) on but the notifier has no secret: set ${bot.name === 'dingtalk' ? 'DINGTALK_SECRET' : `bots.${bot.name}.secret_env`} to the bot's SEC… secret`
        : `${where} rejected the signature: the secret does not match the bot's 加签 secret (copy it again from the bot's security settings), or this host's clock is more than 1 hour off`;
      return { kind: 'misconfigured', reason: 'signature', detail, fix, status, reply: result.text };
    }
    if (/keyword/i.test(message)) {
      const fix = `${where} requires a custom keyword the message lacks: set the bot's keyword to "告警" or "Alert" (every title has them) or set keyword: in NOTIFIER_CONFIG; better, switch the bot to 加签 (signing)`;
      return { kind: 'misconfigured', reason: 'keyword', detail, fix, status, reply: result.text };
    }
    if (/ip|whitelist/i.test(message)) {
      const fix = `${where} refuses this host's IP: add the notifier host's public IP to the bot's IP allowlist (IP地址(段)), or use 加签 (signing) instead`;
      return { kind: 'misconfigured', reason: 'ip-allowlist', detail, fix, status, reply: result.text };
    }
    return { kind: 'misconfigured', reason: 'signature', detail, fix: `${where}: check the bot's security settings (${message})`, status, reply: result.text };
  }
  if (code === DINGTALK_BAD_TOKEN) {
    return { kind: 'misconfigured', reason: 'token', detail, fix: `${where}: the access_token in the webhook URL is unknown; copy the webhook URL again from the bot's settings`, status, reply: result.text };
  }
  return { kind: 'rejected', reason: 'rejected', detail, status, reply: result.text };
}

export async function sendDingTalk(post: PostJson, bot: BotConfig, body: unknown, nowMs: number, timeoutMs: number): Promise<SendOutcome> {
  return classifyDingTalk(await post(dingTalkUrl(bot, nowMs), JSON.stringify(body), timeoutMs), bot);
}

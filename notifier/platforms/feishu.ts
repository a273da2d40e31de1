/**
 * Feishu custom bot (自定义机器人): signing and reply classification.
 *
 * Signing (签名校验): timestamp in seconds, sign = base64(HMAC-SHA256(
 * key=timestamp + "\n" + secret, msg="")), both in the JSON body. Feishu
 * refuses a timestamp more than an hour off.
 * Replies: {"code":0,"msg":"success"} (older: {"StatusCode":0}); 19021 "sign
 * match fail or timestamp is not within one hour from current time", 19022 IP
 * not allowed, 19024 keyword not found; rate limits (100/min and 5/s per bot)
 * as 9499 "too many request", 11232, or HTTP 429 / code 99991400.
 */
import { createHmac } from 'node:crypto';
import type { BotConfig } from '../config.ts';
import { parseReply, transportOutcome, type HttpResult, type PostJson, type SendOutcome } from './outcome.ts';

export const FEISHU_SIGN_ERROR = 19021;
export const FEISHU_IP_ERROR = 19022;
export const FEISHU_KEYWORD_ERROR = 19024;
export const FEISHU_RATE_LIMIT_CODES: ReadonlySet<number> = new Set([9499, 11232, 99991400]);

export function feishuSign(secret: string, timestampSeconds: number): string {
  return createHmac('sha256', `${timestampSeconds}\n${secret}`).update('').digest('base64');
}

/** The body to post: the message, plus timestamp and sign when the bot has a secret. */
export function feishuBody(bot: BotConfig, message: object, nowMs: number): object {
  if (bot.secret === undefined) return message;
  const timestamp = Math.floor(nowMs / 1000);
  return { timestamp: String(timestamp), sign: feishuSign(bot.secret, timestamp), ...message };
}

export function classifyFeishu(result: HttpResult, bot: BotConfig): SendOutcome {
  const transport = transportOutcome(result, `Feishu bot "${bot.name}"`);
  if (transport !== undefined || !result.ok) return transport ?? { kind: 'retry', reason: 'network', detail: 'no reply' };
  const reply = parseReply(result.text);
  const status = result.status;
  const code = typeof reply?.code === 'number' ? reply.code : typeof reply?.StatusCode === 'number' ? reply.StatusCode : undefined;
  if (code === undefined) {
    if (status >= 400) return { kind: 'rejected', reason: 'rejected', detail: `HTTP ${status}`, status, reply: result.text };
    return { kind: 'retry', reason: 'unexpected-reply', detail: `HTTP ${status} without a code`, status, reply: result.text };
  }
  const message = typeof reply?.msg === 'string' ? reply.msg : typeof reply?.StatusMessage === 'string' ? reply.StatusMessage : '';
  const detail = `code ${code}: ${message}`;
  if (code === 0) return { kind: 'delivered', status, reply: result.text };
  if (FEISHU_RATE_LIMIT_CODES.has(code)) return { kind: 'retry', reason: 'rate-limited', detail, status, reply: result.text };
  const where = `Feishu bot "${bot.name}"`;
  if (code === FEISHU_SIGN_ERROR) {
    const fix = bot.secret === undefined
      ? `${where} has 签名校验 (signature verification) on but the notifier has no secret: set ${bot.name === 'feishu' ? 'FEISHU_SECRET' : `bots.${bot.name}.secret_env`} to the bot's secret`
      : `${where} rejected the signature: the secret does not match the bot's 签名校验 secret (copy it again from the bot's security settings), or this host's clock is more than 1 hour off`;
    return { kind: 'misconfigured', reason: 'signature', detail, fix, status, reply: result.text };
  }
  if (code === FEISHU_KEYWORD_ERROR) {
    const fix = `${where} requires a custom keyword the message lacks: set the bot's keyword to "告警" or "Alert" (every title has them) or set keyword: in NOTIFIER_CONFIG; better, switch the bot to 签名校验 (signing)`;
    return { kind: 'misconfigured', reason: 'keyword', detail, fix, status, reply: result.text };
  }
  if (code === FEISHU_IP_ERROR) {
    const fix = `${where} refuses this host's IP: add the notifier host's public IP to the bot's IP 白名单 (allowlist), or use 签名校验 (signing) instead`;
    return { kind: 'misconfigured', reason: 'ip-allowlist', detail, fix, status, reply: result.text };
  }
  if (/token/i.test(message)) {
    return { kind: 'misconfigured', reason: 'token', detail, fix: `${where}: the hook token in the webhook URL is not accepted; copy the webhook URL again from the bot's settings`, status, reply: result.text };
  }
  return { kind: 'rejected', reason: 'rejected', detail, status, reply: result.text };
}

export async function sendFeishu(post: PostJson, bot: BotConfig, message: object, nowMs: number, timeoutMs: number): Promise<SendOutcome> {
  return classifyFeishu(await post(bot.url, JSON.stringify(feishuBody(bot, message, nowMs)), timeoutMs), bot);
}

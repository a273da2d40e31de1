/**
 * The notifier's environment variables: one table from which config.ts loads
 * them and its table in docs/configuration.md is generated. The optional YAML file
 * (NOTIFIER_CONFIG) is checked in config.ts.
 */
import { boolean, durationMs, integer, list, listenAddress, oneOf, path, port, text } from '../common/config/parsers.ts';
import { optional, required, secretNames, ValueProblem, type Parser, type Schema } from '../common/config/schema.ts';
import { LOG_LEVEL, LOG_LEVELS, type LogLevel } from '../common/settings.ts';

export { LOG_LEVELS, type LogLevel };

export const PLATFORMS = ['dingtalk', 'feishu'] as const;
export type Platform = (typeof PLATFORMS)[number];
export const LANGUAGES = ['zh', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

export const EXAMPLE_URLS: Record<Platform, string> = {
  dingtalk: 'https://oapi.dingtalk.com/robot/send?access_token=…',
  feishu: 'https://open.feishu.cn/open-apis/bot/v2/hook/…',
};

/** A secret's text, trimmed; blank only when it came from an empty NAME_FILE. */
export const secretText: Parser<string> = (raw) => {
  const value = raw.trim();
  if (value === '') throw new ValueProblem('the file is empty');
  return value;
};

/** A webhook URL, checked without echoing it (it holds the bot's token). */
export function webhookUrl(platform: Platform): Parser<string> {
  return (raw) => {
    const value = secretText(raw);
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ValueProblem(`expected the bot's webhook URL, such as ${EXAMPLE_URLS[platform]}`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ValueProblem(`expected an https:// URL such as ${EXAMPLE_URLS[platform]}`);
    return value;
  };
}

const MOBILE = /^\+?[0-9-]{5,20}$/;

/** Mobile numbers: the first bad one is shown. */
export function mobileNumbers(values: readonly string[]): string[] {
  const bad = values.find((value) => !MOBILE.test(value));
  if (bad !== undefined) throw new ValueProblem('expected mobile numbers such as 13800000000, comma-separated', bad);
  return [...values];
}

const timeZone: Parser<string> = (raw) => {
  const zone = raw.trim();
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
  } catch {
    throw new ValueProblem('expected an IANA time zone such as Asia/Shanghai or UTC');
  }
  return zone;
};

const token: Parser<string> = (raw) => {
  const value = secretText(raw);
  if (value.length < 16) throw new ValueProblem('expected at least 16 characters (try: openssl rand -hex 24)');
  return value;
};

export const NOTIFIER = {
  NOTIFIER_TOKEN: optional({ name: 'NOTIFIER_TOKEN', parse: token, secret: true, defaultDoc: 'required', doc: 'the Bearer token Grafana\'s webhook contact point sends (≥ 16 characters, e.g. `openssl rand -hex 24`)' }),
  NOTIFIER_PORT: required({ name: 'NOTIFIER_PORT', parse: port(0), default: '8090', doc: 'HTTP port: `POST /grafana/webhook`, `/healthz`, `/readyz`, `/metrics`' }),
  NOTIFIER_HOST: required({ name: 'NOTIFIER_HOST', parse: listenAddress(), default: '127.0.0.1', doc: 'listen address (compose: `0.0.0.0`)' }),
  NOTIFIER_QUEUE_DIR: required({ name: 'NOTIFIER_QUEUE_DIR', parse: path, default: 'data/notifier', doc: 'the durable queue (`queue/<bot>/`) and undeliverable notifications (`dead/<bot>/`); must survive restarts' }),
  NOTIFIER_LANGUAGE: required({ name: 'NOTIFIER_LANGUAGE', parse: oneOf(LANGUAGES), default: 'zh', doc: '`zh` or `en`' }),
  NOTIFIER_TIMEZONE: required({ name: 'NOTIFIER_TIMEZONE', parse: timeZone, default: 'Asia/Shanghai', doc: 'time zone of the times in messages' }),
  NOTIFIER_CONFIG: optional({ name: 'NOTIFIER_CONFIG', parse: path, doc: 'YAML file naming bots and routes (below); without it the two bots below get every alert' }),
  DINGTALK_WEBHOOK_URL: optional({ name: 'DINGTALK_WEBHOOK_URL', parse: webhookUrl('dingtalk'), secret: true, doc: 'the DingTalk bot; no URL, no bot' }),
  DINGTALK_SECRET: optional({ name: 'DINGTALK_SECRET', parse: secretText, secret: true, doc: 'its 加签 secret (`SEC…`)' }),
  DINGTALK_AT_MOBILES: optional({ name: 'DINGTALK_AT_MOBILES', parse: (raw) => mobileNumbers(list(text)(raw)), doc: 'comma-separated mobiles mentioned on critical alerts' }),
  DINGTALK_AT_ALL: required({ name: 'DINGTALK_AT_ALL', parse: boolean, default: 'false', doc: 'mention everyone on critical alerts' }),
  FEISHU_WEBHOOK_URL: optional({ name: 'FEISHU_WEBHOOK_URL', parse: webhookUrl('feishu'), secret: true, doc: 'the Feishu bot; no URL, no bot' }),
  FEISHU_SECRET: optional({ name: 'FEISHU_SECRET', parse: secretText, secret: true, doc: 'its 签名校验 secret' }),
  FEISHU_AT_USER_IDS: optional({ name: 'FEISHU_AT_USER_IDS', parse: list(text), doc: 'comma-separated open_ids mentioned on critical alerts, or `all`' }),
  NOTIFIER_CA_FILE: optional({ name: 'NOTIFIER_CA_FILE', parse: path, doc: 'TLS to the bots: CA certificate(s) (PEM) trusted in addition to the system\'s, for a private DingTalk / Feishu deployment or a TLS-inspecting proxy' }),
  NOTIFIER_MAX_BODY_BYTES: required({ name: 'NOTIFIER_MAX_BODY_BYTES', parse: integer(1024, 64 * 1024 * 1024), default: String(4 * 1024 * 1024), doc: 'larger webhook bodies get 413' }),
  NOTIFIER_REQUEST_TIMEOUT_MS: required({ name: 'NOTIFIER_REQUEST_TIMEOUT_MS', parse: durationMs(100, 120_000), default: '10000', doc: 'whole-request limit for webhook clients (headers: 10 s at most), and the timeout of each request to a bot' }),
  NOTIFIER_GIVE_UP_AFTER_MS: required({ name: 'NOTIFIER_GIVE_UP_AFTER_MS', parse: durationMs(1000, 30 * 24 * 3600 * 1000), default: String(24 * 3600 * 1000), doc: 'a notification still failing with retryable errors after this long moves to `dead/`' }),
  LOG_LEVEL,
} as const;

export const NOTIFIER_SCHEMA: Schema = { program: 'notifier (`npm run notifier`)', variables: Object.values(NOTIFIER) };

/** What SENSORFLOW_ENV=production checks for development defaults before the notifier starts. */
export const NOTIFIER_REFUSES = secretNames(NOTIFIER_SCHEMA);

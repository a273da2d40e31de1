/**
 * The notifier's configuration: the environment (settings.ts; the table in
 * docs/configuration.md, "Notifier"), plus an optional YAML file (NOTIFIER_CONFIG) that names several bots
 * and routes alerts to them by label. Validated in one pass at start-up with no
 * network calls (the file's shape against NOTIFIER_FILE_SCHEMA with ajv); a bad
 * value throws ConfigError naming the setting (a variable,
 * or a path inside the YAML file such as `bots.oncall.url_env`), the value and
 * what is expected. main.ts prints it as one line and exits 2.
 *
 * Webhook URLs carry the bot's access token and are treated as secrets: never
 * echoed in errors, redacted in logs (see redactWebhookUrl).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { readCaFile } from '../common/config/certificates.ts';
import { documentChecker } from '../common/config/document-schema.ts';
import { ConfigError, describeEnv, read, ValueProblem, type Env, type ReadFile } from '../common/config/schema.ts';
import { EXAMPLE_URLS, LANGUAGES, LOG_LEVELS, mobileNumbers, NOTIFIER, NOTIFIER_SCHEMA, PLATFORMS, webhookUrl, type Language, type LogLevel, type Platform } from './settings.ts';

export { ConfigError, EXAMPLE_URLS, LANGUAGES, LOG_LEVELS, PLATFORMS, type Env, type Language, type LogLevel, type Platform, type ReadFile };

/** Who a critical firing alert mentions. DingTalk uses mobiles / all; Feishu uses open_ids / all. */
export interface Mentions {
  readonly mobiles: readonly string[];
  readonly userIds: readonly string[];
  readonly all: boolean;
}

export interface BotConfig {
  /** Unique, file-name safe: it names the bot's queue folder and its metrics label. */
  readonly name: string;
  readonly platform: Platform;
  readonly url: string;
  /** The signing secret (加签 / 签名校验); undefined when the bot does not use signing. */
  readonly secret: string | undefined;
  /** Added to every message's title, for bots secured by a custom keyword. */
  readonly keyword: string | undefined;
  readonly mentions: Mentions;
}

export interface Route {
  /** Every label must equal the value (or one of the values). */
  readonly match: Readonly<Record<string, readonly string[]>>;
  readonly bots: readonly string[];
}

export interface Routing {
  /** Empty: every alert goes to every bot. */
  readonly routes: readonly Route[];
  /** Bots for alerts no route matches. */
  readonly defaultBots: readonly string[];
}

export interface NotifierConfig {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  readonly queueDir: string;
  readonly language: Language;
  readonly timeZone: string;
  readonly configFile: string | undefined;
  readonly bots: readonly BotConfig[];
  readonly routing: Routing;
  readonly maxBodyBytes: number;
  /** A notification that keeps failing with retryable errors is given up (moved to dead/) after this long. */
  readonly giveUpAfterMs: number;
  readonly requestTimeoutMs: number;
  /** NOTIFIER_CA_FILE's certificates, trusted for the bots' hosts in addition to the system's. */
  readonly ca: Buffer | undefined;
  readonly logLevel: LogLevel;
}

const BOT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function readNamedFile(readFile: ReadFile, setting: string, path: string): string {
  try {
    return readFile(path).toString('utf8').replace(/\r?\n$/, '');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(setting, path, `cannot read the file (${code})`);
  }
}

/** A setting's value through a parser, the error naming the setting (a path inside the YAML file). */
function checked<T>(setting: string, value: string, parse: (raw: string) => T, shown: string | undefined): T {
  try {
    return parse(value);
  } catch (error) {
    if (error instanceof ValueProblem) throw new ConfigError(setting, error.shown ?? shown, error.expected);
    throw error;
  }
}

function userIds(values: readonly string[]): { userIds: string[]; all: boolean } {
  const all = values.includes('all');
  return { userIds: values.filter((value) => value !== 'all'), all };
}

/** The two bots the environment defines when there is no config file; a bot without a URL is off. */
function botsFromEnv(env: Env, readFile: ReadFile): BotConfig[] {
  const bots: BotConfig[] = [];
  const dingtalkUrl = read(env, NOTIFIER.DINGTALK_WEBHOOK_URL, readFile);
  if (dingtalkUrl !== undefined) {
    bots.push({
      name: 'dingtalk',
      platform: 'dingtalk',
      url: dingtalkUrl,
      secret: read(env, NOTIFIER.DINGTALK_SECRET, readFile),
      keyword: undefined,
      mentions: {
        mobiles: read(env, NOTIFIER.DINGTALK_AT_MOBILES) ?? [],
        userIds: [],
        all: read(env, NOTIFIER.DINGTALK_AT_ALL),
      },
    });
  }
  const feishuUrl = read(env, NOTIFIER.FEISHU_WEBHOOK_URL, readFile);
  if (feishuUrl !== undefined) {
    bots.push({
      name: 'feishu',
      platform: 'feishu',
      url: feishuUrl,
      secret: read(env, NOTIFIER.FEISHU_SECRET, readFile),
      keyword: undefined,
      mentions: { mobiles: [], ...userIds(read(env, NOTIFIER.FEISHU_AT_USER_IDS) ?? []) },
    });
  }
  return bots;
}

// ---- the YAML file -------------------------------------------------------------------------------

const scalar = { type: ['string', 'number', 'boolean'], expected: 'expected a non-empty string' };
const scalars = { type: ['array', 'string', 'number', 'boolean', 'null'], items: scalar, expected: 'expected a value or a list of values' };
const mention = (keys: Record<string, unknown>) => ({
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { ...keys, all: { type: 'boolean', expected: 'expected true or false' } },
  expected: 'expected a mapping such as { mobiles: [...], all: false } or { user_ids: [...] }',
});

/**
 * The shape of NOTIFIER_CONFIG (ajv): keys, types, platforms, bot names. What
 * depends on more than the file (variables it names, files, which bots exist)
 * is checked while reading it (FileReader).
 */
export const NOTIFIER_FILE_SCHEMA = {
  type: 'object',
  expected: 'expected a mapping with bots, and optionally routes and default',
  additionalProperties: false,
  required: ['bots'],
  properties: {
    bots: {
      type: 'object',
      minProperties: 1,
      expected: 'expected at least one bot: bots: { name: { platform: dingtalk, url_env: … } }',
      propertyNames: { pattern: BOT_NAME.source, expected: 'expected a bot name of lower-case letters, digits, "-" and "_"' },
      additionalProperties: {
        type: 'object',
        expected: 'expected a mapping with platform and url_env (or url / url_file)',
        additionalProperties: false,
        required: ['platform'],
        properties: {
          platform: { enum: [...PLATFORMS] },
          url: { ...scalar, secret: true },
          url_env: scalar,
          url_file: scalar,
          secret_env: scalar,
          secret_file: scalar,
          keyword: scalar,
          mention: {},
        },
        if: { type: 'object', properties: { platform: { const: 'feishu' } } },
        then: { type: 'object', properties: { mention: mention({ user_ids: scalars }) } },
        else: { type: 'object', properties: { mention: mention({ mobiles: scalars }) } },
      },
    },
    routes: {
      type: 'array',
      expected: 'expected a list of { match: {label: value}, bots: [names] }',
      items: {
        type: 'object',
        expected: 'expected a mapping with match and bots',
        additionalProperties: false,
        required: ['match', 'bots'],
        properties: {
          match: { type: 'object', minProperties: 1, additionalProperties: scalars, expected: 'expected label matchers such as { group: production }' },
          bots: { type: 'array', items: scalar, expected: 'expected a list of bot names' },
        },
      },
    },
    default: { type: 'array', items: scalar, expected: 'expected a list of bot names' },
  },
} as const;

const checkNotifierFile = documentChecker(NOTIFIER_FILE_SCHEMA);

type Plain = Record<string, unknown>;

const isPlain = (value: unknown): value is Plain => typeof value === 'object' && value !== null && !Array.isArray(value);

class FileReader {
  constructor(
    readonly file: string,
    readonly env: Env,
    readonly readFile: ReadFile,
  ) {}

  fail(path: string, value: string | undefined, expected: string): never {
    throw new ConfigError(`NOTIFIER_CONFIG ${this.file}: ${path}`, value, expected);
  }

  string(path: string, value: unknown): string {
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return this.fail(path, undefined, 'expected a non-empty string');
  }

  strings(path: string, value: unknown): string[] {
    if (value === undefined || value === null) return [];
    const items = Array.isArray(value) ? (value as unknown[]) : [value];
    return items.map((item, index) => this.string(`${path}[${index}]`, item));
  }

  /** `<key>` literal, `<key>_env` naming a variable, or `<key>_file` naming a file; at most one. */
  sourced(path: string, bot: Plain, key: string, literalAllowed: boolean): string | undefined {
    const present = [literalAllowed ? key : undefined, `${key}_env`, `${key}_file`].filter(
      (name): name is string => name !== undefined && bot[name] !== undefined,
    );
    if (present.length > 1) this.fail(`${path}.${present[1]}`, undefined, `expected only one of ${present.join(', ')}`);
    const chosen = present[0];
    if (chosen === undefined) return undefined;
    const raw = this.string(`${path}.${chosen}`, bot[chosen]);
    if (chosen === key) return raw;
    if (chosen.endsWith('_env')) {
      const value = optional(this.env, raw);
      if (value === undefined) this.fail(`${path}.${chosen}`, raw, 'that environment variable is not set');
      return value;
    }
    const value = readNamedFile(this.readFile, `NOTIFIER_CONFIG ${this.file}: ${path}.${chosen}`, raw).trim();
    if (value === '') this.fail(`${path}.${chosen}`, raw, 'the file is empty');
    return value;
  }

  /** A bot, its shape already checked by NOTIFIER_FILE_SCHEMA. */
  bot(name: string, raw: Plain): BotConfig {
    const path = `bots.${name}`;
    const platform = raw.platform as Platform;
    const url = this.sourced(path, raw, 'url', true);
    if (url === undefined) this.fail(path, undefined, 'expected url_env (or url / url_file): the bot\'s webhook URL');
    const checkedUrl = checked(`NOTIFIER_CONFIG ${this.file}: ${path}.url`, url, webhookUrl(platform), undefined);
    // Secrets only from the environment or a file: a config file is easy to commit by mistake.
    const secretValue = this.sourced(path, raw, 'secret', false);
    const keyword = raw.keyword === undefined ? undefined : this.string(`${path}.keyword`, raw.keyword);
    return { name, platform, url: checkedUrl, secret: secretValue, keyword, mentions: this.mentions(`${path}.mention`, raw.mention, platform) };
  }

  mentions(path: string, raw: unknown, platform: Platform): Mentions {
    if (!isPlain(raw)) return { mobiles: [], userIds: [], all: false };
    const all = raw.all === true;
    if (platform === 'dingtalk') {
      const values = this.strings(`${path}.mobiles`, raw.mobiles);
      try {
        return { mobiles: mobileNumbers(values), userIds: [], all };
      } catch (error) {
        if (error instanceof ValueProblem) this.fail(`${path}.mobiles`, error.shown, error.expected);
        throw error;
      }
    }
    const ids = userIds(this.strings(`${path}.user_ids`, raw.user_ids));
    return { mobiles: [], userIds: ids.userIds, all: all || ids.all };
  }

  route(index: number, raw: Plain, botNames: ReadonlySet<string>): Route {
    const path = `routes[${index}]`;
    const match: Record<string, string[]> = {};
    for (const [label, values] of Object.entries(raw.match as Plain)) {
      // Grafana drops every label whose value is empty before it notifies
      // (grafana/alerting notify/grafana_alertmanager.go PostableAlertsToAlertmanagerAlerts,
      // called by PutAlerts): an alert of a device without a group has no `group`
      // label at all, so a route for "" could never match. Say so instead of
      // "expected a non-empty string".
      const items: unknown[] = Array.isArray(values) ? (values as unknown[]) : [values];
      items.forEach((item, index) => {
        if (item === '' || (typeof item === 'string' && item.trim() === '')) {
          this.fail(`${path}.match.${label}${Array.isArray(values) ? `[${index}]` : ''}`, undefined, `an empty value never matches: Grafana drops empty labels before it notifies, so an alert without ${label} has no ${label} label; such alerts go to the bots of a route that does not match on ${label}, else to default`);
        }
      });
      match[label] = this.strings(`${path}.match.${label}`, values);
      if (match[label].length === 0) this.fail(`${path}.match.${label}`, undefined, 'expected a label value or a list of values');
    }
    return { match, bots: this.botList(`${path}.bots`, raw.bots, botNames, false) };
  }

  botList(path: string, raw: unknown, botNames: ReadonlySet<string>, emptyAllowed: boolean): string[] {
    if (!Array.isArray(raw)) return this.fail(path, undefined, `expected a list of bot names (${[...botNames].join(', ')})`);
    const names = this.strings(path, raw);
    if (names.length === 0 && !emptyAllowed) this.fail(path, undefined, 'expected at least one bot name');
    for (const name of names) {
      if (!botNames.has(name)) this.fail(path, name, `no such bot; the bots are ${[...botNames].join(', ')}`);
    }
    return names;
  }
}

function fromFile(file: string, env: Env, readFile: ReadFile): { bots: BotConfig[]; routing: Routing } {
  const source = readNamedFile(readFile, 'NOTIFIER_CONFIG', file);
  let document: unknown;
  try {
    document = parseYaml(source);
  } catch (error) {
    throw new ConfigError('NOTIFIER_CONFIG', file, `not valid YAML (${(error as Error).message.split('\n')[0] ?? ''})`);
  }
  const reader = new FileReader(file, env, readFile);
  const problem = checkNotifierFile(document);
  if (problem !== undefined) reader.fail(problem.path === '' ? '(top level)' : problem.path, undefined, problem.problem);
  const top = document as { bots: Record<string, Plain>; routes?: Plain[]; default?: unknown[] };
  const bots = Object.entries(top.bots).map(([name, raw]) => reader.bot(name, raw));
  const names = new Set(bots.map((bot) => bot.name));
  if (top.routes === undefined) {
    if (top.default !== undefined) reader.fail('default', undefined, 'only meaningful with routes; without routes every alert goes to every bot');
    return { bots, routing: { routes: [], defaultBots: [...names] } };
  }
  const routes = top.routes.map((raw, index) => reader.route(index, raw, names));
  if (top.default === undefined) {
    reader.fail('default', undefined, 'routes need a default: the bots for alerts no route matches (write default: [] to drop those on purpose)');
  }
  return { bots, routing: { routes, defaultBots: reader.botList('default', top.default, names, true) } };
}

export function loadConfig(env: Env, readFile: ReadFile = readFileSync): NotifierConfig {
  const token = read(env, NOTIFIER.NOTIFIER_TOKEN, readFile);
  if (token === undefined) {
    throw new ConfigError('NOTIFIER_TOKEN', undefined, 'required: the Bearer token Grafana\'s webhook contact point sends (or NOTIFIER_TOKEN_FILE)');
  }
  const timeZone = read(env, NOTIFIER.NOTIFIER_TIMEZONE);
  const configFile = read(env, NOTIFIER.NOTIFIER_CONFIG);
  const caFile = read(env, NOTIFIER.NOTIFIER_CA_FILE);
  const { bots, routing } = configFile === undefined ? { bots: botsFromEnv(env, readFile), routing: undefined } : fromFile(configFile, env, readFile);
  return {
    host: read(env, NOTIFIER.NOTIFIER_HOST),
    port: read(env, NOTIFIER.NOTIFIER_PORT),
    token,
    queueDir: read(env, NOTIFIER.NOTIFIER_QUEUE_DIR),
    language: read(env, NOTIFIER.NOTIFIER_LANGUAGE),
    timeZone,
    configFile,
    bots,
    routing: routing ?? { routes: [], defaultBots: bots.map((bot) => bot.name) },
    maxBodyBytes: read(env, NOTIFIER.NOTIFIER_MAX_BODY_BYTES),
    giveUpAfterMs: read(env, NOTIFIER.NOTIFIER_GIVE_UP_AFTER_MS),
    requestTimeoutMs: read(env, NOTIFIER.NOTIFIER_REQUEST_TIMEOUT_MS),
    ca: caFile === undefined ? undefined : readCaFile(NOTIFIER.NOTIFIER_CA_FILE.name, caFile, readFile),
    logLevel: read(env, NOTIFIER.LOG_LEVEL),
  };
}

/**
 * A webhook URL safe to log: DingTalk's `access_token` query value and
 * Feishu's hook token (the last path segment) keep only their first 4 characters.
 */
export function redactWebhookUrl(raw: string): string {
  try {
    const url = new URL(raw);
    const cut = (value: string): string => `${value.slice(0, 4)}***`;
    for (const key of [...url.searchParams.keys()]) {
      if (/token|key|secret|sign/i.test(key)) url.searchParams.set(key, cut(url.searchParams.get(key) ?? ''));
    }
    const segments = url.pathname.split('/');
    const hook = segments.indexOf('hook');
    if (hook >= 0 && segments[hook + 1] !== undefined && segments[hook + 1] !== '') segments[hook + 1] = cut(segments[hook + 1] ?? '');
    url.pathname = segments.join('/');
    url.username = '';
    url.password = '';
    return url.toString().replace(/%2A/g, '*');
  } catch {
    return '(unparseable URL)';
  }
}

/** The configuration as it may be logged: no token, no secret, URLs redacted; with env, the variables set (secrets as "(set)"). */
export function describeConfig(config: NotifierConfig, env?: Env): Record<string, unknown> {
  return {
    ...(env === undefined ? {} : { environment: describeEnv(NOTIFIER_SCHEMA, env) }),
    listen: `${config.host}:${config.port}`,
    queueDir: config.queueDir,
    language: config.language,
    timeZone: config.timeZone,
    configFile: config.configFile,
    tls: { ca: config.ca !== undefined },
    bots: config.bots.map((bot) => ({
      name: bot.name,
      platform: bot.platform,
      url: redactWebhookUrl(bot.url),
      signed: bot.secret !== undefined,
      keyword: bot.keyword,
      mentions: { mobiles: bot.mentions.mobiles.length, userIds: bot.mentions.userIds.length, all: bot.mentions.all },
    })),
    routes: config.routing.routes,
    defaultBots: config.routing.defaultBots,
  };
}

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, describeConfig, loadConfig, redactWebhookUrl, type Env } from '../../notifier/config.ts';

const TOKEN = 'grafana-shared-secret-0123456789';
const DT_URL = 'https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef0123456789abcdef';
const FS_URL = 'https://open.feishu.cn/open-apis/bot/v2/hook/2b2e6a1c-1111-2222-3333-444455556666';

function files(map: Record<string, string>): (path: string) => Buffer {
  return (path) => {
    const content = map[path];
    if (content === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return Buffer.from(content);
  };
}

function configError(env: Env, read = files({})): string {
  try {
    loadConfig(env, read);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig: environment', () => {
  test('defaults per docs/configuration.md ("Notifier"), and each bot with a URL is on', () => {
    const config = loadConfig({ NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: DT_URL, DINGTALK_SECRET: 'SECabc', FEISHU_WEBHOOK_URL: FS_URL }, files({}));
    assert.equal(config.port, 8090);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.queueDir, 'data/notifier');
    assert.equal(config.language, 'zh');
    assert.deepEqual(config.bots.map((bot) => [bot.name, bot.platform, bot.secret]), [
      ['dingtalk', 'dingtalk', 'SECabc'],
      ['feishu', 'feishu', undefined],
    ]);
    assert.deepEqual(config.routing, { routes: [], defaultBots: ['dingtalk', 'feishu'] });
  });

  test('a bot without a URL is off', () => {
    const config = loadConfig({ NOTIFIER_TOKEN: TOKEN, FEISHU_WEBHOOK_URL: FS_URL, DINGTALK_WEBHOOK_URL: '' }, files({}));
    assert.deepEqual(config.bots.map((bot) => bot.name), ['feishu']);
  });

  test('secrets and the token come from *_FILE too', () => {
    const config = loadConfig(
      { NOTIFIER_TOKEN_FILE: '/run/secrets/token', DINGTALK_WEBHOOK_URL_FILE: '/run/secrets/dt-url', DINGTALK_SECRET_FILE: '/run/secrets/dt', FEISHU_WEBHOOK_URL: FS_URL, FEISHU_SECRET_FILE: '/run/secrets/fs' },
      files({ '/run/secrets/token': `${TOKEN}\n`, '/run/secrets/dt-url': `${DT_URL}\n`, '/run/secrets/dt': 'SECfromfile\n', '/run/secrets/fs': 'fsfromfile' }),
    );
    assert.equal(config.token, TOKEN);
    assert.equal(config.bots[0]?.url, DT_URL);
    assert.equal(config.bots[0]?.secret, 'SECfromfile');
    assert.equal(config.bots[1]?.secret, 'fsfromfile');
  });

  test('mentions from DINGTALK_AT_MOBILES, DINGTALK_AT_ALL and FEISHU_AT_USER_IDS', () => {
    const config = loadConfig(
      { NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: DT_URL, DINGTALK_AT_MOBILES: '13800000000, 13900000000', DINGTALK_AT_ALL: 'false', FEISHU_WEBHOOK_URL: FS_URL, FEISHU_AT_USER_IDS: 'ou_1,all' },
      files({}),
    );
    assert.deepEqual(config.bots[0]?.mentions, { mobiles: ['13800000000', '13900000000'], userIds: [], all: false });
    assert.deepEqual(config.bots[1]?.mentions, { mobiles: [], userIds: ['ou_1'], all: true });
  });

  test('bad values name the variable and what is expected, never a secret', () => {
    assert.equal(configError({}), "NOTIFIER_TOKEN: required: the Bearer token Grafana's webhook contact point sends (or NOTIFIER_TOKEN_FILE)");
    assert.equal(configError({ NOTIFIER_TOKEN: 'short' }), 'NOTIFIER_TOKEN: expected at least 16 characters (try: openssl rand -hex 24)');
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, NOTIFIER_LANGUAGE: 'fr' }), 'NOTIFIER_LANGUAGE="fr": expected one of zh, en');
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, NOTIFIER_PORT: '99999' }), 'NOTIFIER_PORT="99999": expected a whole number from 0 to 65535');
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, NOTIFIER_TIMEZONE: 'Mars/Olympus' }), 'NOTIFIER_TIMEZONE="Mars/Olympus": expected an IANA time zone such as Asia/Shanghai or UTC');
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: 'oapi.dingtalk.com/robot/send?access_token=secret-token' }), "DINGTALK_WEBHOOK_URL: expected the bot's webhook URL, such as https://oapi.dingtalk.com/robot/send?access_token=…");
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: DT_URL, DINGTALK_AT_MOBILES: 'boss' }), 'DINGTALK_AT_MOBILES="boss": expected mobile numbers such as 13800000000, comma-separated');
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: DT_URL, DINGTALK_AT_ALL: 'yes' }), 'DINGTALK_AT_ALL="yes": expected one of true, false, 1, 0');
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, FEISHU_WEBHOOK_URL: FS_URL, FEISHU_SECRET: 'a', FEISHU_SECRET_FILE: '/x' }), 'FEISHU_SECRET_FILE="/x": expected either FEISHU_SECRET or FEISHU_SECRET_FILE, not both');
    assert.equal(configError({ NOTIFIER_TOKEN: TOKEN, FEISHU_WEBHOOK_URL: FS_URL, FEISHU_SECRET_FILE: '/missing' }), 'FEISHU_SECRET_FILE="/missing": cannot read the file (ENOENT)');
  });
});

describe('loadConfig: NOTIFIER_CONFIG file', () => {
  const yaml = `
bots:
  production:
    platform: dingtalk
    url_env: PROD_URL
    secret_env: PROD_SECRET
    keyword: 传感器
  gateway:
    platform: feishu
    url_file: /secrets/gw-url
    secret_file: /secrets/gw-secret
  oncall:
    platform: dingtalk
    url_env: ONCALL_URL
    mention: { mobiles: ["13800000000"], all: true }
routes:
  - match: { group: production }
    bots: [production]
  - match: { group: [gateway, edge] }
    bots: [gateway]
  - match: { severity: critical }
    bots: [oncall]
default: [production]
`;
  const env = { NOTIFIER_TOKEN: TOKEN, NOTIFIER_CONFIG: '/etc/notifier.yaml', PROD_URL: DT_URL, PROD_SECRET: 'SECprod', ONCALL_URL: DT_URL };
  const read = (text: string): ((path: string) => Buffer) => files({ '/etc/notifier.yaml': text, '/secrets/gw-url': FS_URL, '/secrets/gw-secret': 'gwsecret\n' });

  test('names bots and routes; secrets from the environment or files', () => {
    const config = loadConfig(env, read(yaml));
    assert.deepEqual(config.bots.map((bot) => [bot.name, bot.platform, bot.secret, bot.keyword]), [
      ['production', 'dingtalk', 'SECprod', '传感器'],
      ['gateway', 'feishu', 'gwsecret', undefined],
      ['oncall', 'dingtalk', undefined, undefined],
    ]);
    assert.deepEqual(config.bots[2]?.mentions, { mobiles: ['13800000000'], userIds: [], all: true });
    assert.deepEqual(config.routing, {
      routes: [
        { match: { group: ['production'] }, bots: ['production'] },
        { match: { group: ['gateway', 'edge'] }, bots: ['gateway'] },
        { match: { severity: ['critical'] }, bots: ['oncall'] },
      ],
      defaultBots: ['production'],
    });
  });

  test('without routes every alert goes to every bot', () => {
    const config = loadConfig(env, read('bots:\n  a: { platform: dingtalk, url_env: PROD_URL }\n  b: { platform: dingtalk, url_env: ONCALL_URL }\n'));
    assert.deepEqual(config.routing, { routes: [], defaultBots: ['a', 'b'] });
  });

  test('each mistake names the bot or route and what is wrong', () => {
    const prefix = 'NOTIFIER_CONFIG /etc/notifier.yaml: ';
    const cases: [string, string][] = [
      ['bots:\n  a: { platform: wechat, url_env: PROD_URL }\n', 'bots.a.platform: must be one of dingtalk, feishu, got "wechat"'],
      ['bots:\n  a: { platform: dingtalk, url_env: NOT_SET }\n', 'bots.a.url_env="NOT_SET": that environment variable is not set'],
      ['bots:\n  a: { platform: dingtalk }\n', "bots.a: expected url_env (or url / url_file): the bot's webhook URL"],
      ['bots:\n  a: { platform: dingtalk, url_env: PROD_URL, secret: x }\n', 'bots.a: unknown key "secret" (expected platform, url, url_env, url_file, secret_env, secret_file, keyword, mention)'],
      ['bots:\n  A B: { platform: dingtalk, url_env: PROD_URL }\n', 'bots."A B": expected a bot name of lower-case letters, digits, "-" and "_", got "A B"'],
      ['bots:\n  a: { platform: dingtalk, url_env: PROD_URL }\nroutes:\n  - match: { group: x }\n    bots: [b]\ndefault: [a]\n', 'routes[0].bots="b": no such bot; the bots are a'],
      ['bots:\n  a: { platform: dingtalk, url_env: PROD_URL }\nroutes:\n  - match: { group: x }\n    bots: [a]\n', 'default: routes need a default: the bots for alerts no route matches (write default: [] to drop those on purpose)'],
      ['bots:\n  a: { platform: dingtalk, url_env: PROD_URL }\nroutes:\n  - match: { group: [x, ""] }\n    bots: [a]\ndefault: [a]\n', 'routes[0].match.group[1]: an empty value never matches: Grafana drops empty labels before it notifies, so an alert without group has no group label; such alerts go to the bots of a route that does not match on group, else to default'],
      ['bots:\n  a: { platform: dingtalk, url_env: PROD_URL }\nroutes:\n  - bots: [a]\ndefault: [a]\n', 'routes[0]: "match" is required: expected label matchers such as { group: production }'],
      ['bots:\n  a: { platform: feishu, url_env: PROD_URL, mention: { mobiles: [1] } }\n', 'bots.a.mention: unknown key "mobiles" (expected user_ids, all)'],
      ['bots: {}\n', 'bots: expected at least one bot: bots: { name: { platform: dingtalk, url_env: … } }, got {}'],
      ['bots:\n  a: { platform: dingtalk, url_env: PROD_URL, mention: { mobiles: [1], all: maybe } }\n', 'bots.a.mention.all: expected true or false, got "maybe"'],
      ['- 1\n', '(top level): expected a mapping with bots, and optionally routes and default, got [1]'],
      // A webhook URL written into the file is a secret even when it has the wrong shape.
      ['bots:\n  a: { platform: dingtalk, url: { token: s3cret-token } }\n', 'bots.a.url: expected a non-empty string'],
    ];
    for (const [text, message] of cases) assert.equal(configError(env, read(text)), `${prefix}${message}`, text);
    assert.equal(configError(env, read('bots: [')), `NOTIFIER_CONFIG="/etc/notifier.yaml": not valid YAML (${configError(env, read('bots: [')).split('(')[1]?.split(')')[0] ?? ''})`);
  });
});

describe('redaction', () => {
  test('webhook URLs keep only the first 4 characters of the token', () => {
    assert.equal(redactWebhookUrl(DT_URL), 'https://oapi.dingtalk.com/robot/send?access_token=0123***');
    assert.equal(redactWebhookUrl(FS_URL), 'https://open.feishu.cn/open-apis/bot/v2/hook/2b2e***');
  });

  test('describeConfig holds no token, secret or full URL', () => {
    const config = loadConfig({ NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: DT_URL, DINGTALK_SECRET: 'SECverysecret', FEISHU_WEBHOOK_URL: FS_URL, FEISHU_SECRET: 'fsverysecret' }, files({}));
    const text = JSON.stringify(describeConfig(config));
    for (const secret of [TOKEN, 'SECverysecret', 'fsverysecret', '0123456789abcdef0123456789abcdef', '2b2e6a1c-1111']) assert.ok(!text.includes(secret), secret);
    assert.match(text, /"signed":true/);
  });
});

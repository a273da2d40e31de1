import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { ConfigError, describeConfig, filtersOverlap, loadConfig, redactUrl, topicFilterProblem } from '../../ingestor/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');

const noFiles = (path: string): Buffer => {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};

function configError(env: Record<string, string>, readFile = noFiles): ConfigError {
  try {
    loadConfig(env, readFile);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  test('works with no configuration at all, with the documented defaults', () => {
    const config = loadConfig({}, noFiles);
    assert.equal(config.mqtt.url, 'mqtt://localhost:1883');
    assert.deepEqual(config.mqtt.topics, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
    assert.equal(config.devices.emqxPresence, false);
    assert.equal(config.devices.registry.devices.size, 0);
    assert.equal(config.mqtt.qos, 1);
    assert.equal(config.mqtt.persistentSession, false);
    assert.match(config.mqtt.clientId, /^sensorflow-ingestor-[0-9a-f]+$/);
    assert.equal(config.influx.api, 'v2');
    assert.equal(config.influx.bucket, 'iot');
    assert.equal(config.pipeline.batchSize, 5000);
    assert.equal(config.pipeline.flushIntervalMs, 1000);
    assert.equal(config.logLevel, 'info');
  });

  test('an empty MQTT_TOPICS means the default subscription', () => {
    for (const empty of ['', '  ']) {
      const config = loadConfig({ MQTT_TOPICS: empty }, noFiles);
      assert.deepEqual(config.mqtt.topics, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
      assert.deepEqual(config.warnings, []);
    }
  });

  test('the shipped .env, alone (npm run ingestor) and through docker-compose.yml, subscribes to device presence', () => {
    const dotenv = parseDotenv(readFileSync(join(ROOT, '.env')));
    const local = loadConfig(dotenv, noFiles);
    assert.ok(local.mqtt.topics.includes('sensors/+/+/status'), local.mqtt.topics.join());
    assert.deepEqual(local.warnings, []);
    // Compose substitutes ${VAR} from .env into the ingestor's environment.
    const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: { ingestor: { environment: Record<string, string> } } };
    const env = Object.fromEntries(Object.entries(compose.services.ingestor.environment).map(([name, value]) => [
      name, String(value).replace(/\$\{([A-Z_]+)\}/g, (_, variable: string) => dotenv[variable] ?? ''),
    ]));
    const stack = loadConfig(env, () => Buffer.from('secret'));
    assert.deepEqual(stack.mqtt.topics, ['sensors/+/+/telemetry', 'sensors/+/+/status', '$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/+/disconnected']);
    assert.deepEqual(stack.warnings, []);
  });

  test('an MQTT_TOPICS with no presence source is one start-up warning naming MQTT_TOPICS and what to add', () => {
    const { warnings, mqtt } = loadConfig({ MQTT_TOPICS: 'sensors/+/+/telemetry' }, noFiles);
    assert.deepEqual(mqtt.topics, ['sensors/+/+/telemetry'], 'an explicit list is taken as it is');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^MQTT_TOPICS="sensors\/\+\/\+\/telemetry" subscribes to no device presence source, so device_presence stays empty/);
    assert.match(warnings[0]!, /add sensors\/\+\/\+\/status .*PRESENCE_EMQX=true/);
    assert.equal(loadConfig({ MQTT_TOPICS: 'sensors/+/+/telemetry', MQTT_SHARED_GROUP: 'g' }, noFiles).warnings.length, 1, 'also under $share');
    for (const env of [
      { MQTT_TOPICS: 'sensors/#' },
      { MQTT_TOPICS: 'sensors/+/+/telemetry,sensors/site-1/+/status' },
      { MQTT_TOPICS: 'sensors/+/+/telemetry', PRESENCE_EMQX: 'true' },
      { MQTT_TOPICS: 'spBv1.0/#' },
      { MQTT_TOPICS: 'sensors/#', MQTT_SHARED_GROUP: 'g' },
    ]) {
      assert.deepEqual(loadConfig(env, noFiles).warnings, [], JSON.stringify(env));
    }
  });

  test('PRESENCE_HOLD_MS: 5 s by default, 0 turns holding off, checked', () => {
    assert.equal(loadConfig({}, noFiles).devices.presenceHoldMs, 5000);
    assert.equal(loadConfig({ PRESENCE_HOLD_MS: '0' }, noFiles).devices.presenceHoldMs, 0);
    assert.match(configError({ PRESENCE_HOLD_MS: '-5' }).message, /^PRESENCE_HOLD_MS="-5": expected a whole number from 0 to 600000$/);
  });

  test('a fixed MQTT_CLIENT_ID asks for a persistent session', () => {
    const config = loadConfig({ MQTT_CLIENT_ID: 'ingestor-1' }, noFiles);
    assert.equal(config.mqtt.clientId, 'ingestor-1');
    assert.equal(config.mqtt.persistentSession, true);
  });

  test('MQTT_TOPICS is comma-separated and MQTT_SHARED_GROUP prefixes $share/{group}/', () => {
    const config = loadConfig({ MQTT_TOPICS: 'a/+/b, c/#', MQTT_SHARED_GROUP: 'ingest' }, noFiles);
    assert.deepEqual(config.mqtt.topics, ['$share/ingest/a/+/b', '$share/ingest/c/#']);
  });

  for (const [name, value, expected] of [
    ['MQTT_QOS', '3', /^MQTT_QOS="3": expected a whole number from 0 to 2$/],
    ['MQTT_QOS', 'one', /^MQTT_QOS="one": expected a whole number/],
    ['BATCH_SIZE', '0', /^BATCH_SIZE="0": expected a whole number from 1 to 100000$/],
    ['BATCH_SIZE', '1.5', /^BATCH_SIZE="1.5"/],
    ['FLUSH_INTERVAL_MS', '-1', /^FLUSH_INTERVAL_MS="-1"/],
    ['INFLUX_API', 'v4', /^INFLUX_API="v4": expected one of v2, v1, v3$/],
    ['INFLUX_URL', 'localhost:8086', /^INFLUX_URL="localhost:8086": expected a URL starting with http:\/\/, https:\/\/$/],
    ['MQTT_URL', 'not a url', /^MQTT_URL="not a url": expected a URL such as mqtt:\/\/localhost:1883$/],
    ['MQTT_TOPICS', 'a/#/b', /^MQTT_TOPICS="a\/#\/b": expected comma-separated MQTT topic filters, but "a\/#\/b" uses "#"/],
    ['MQTT_SHARED_GROUP', 'a/b', /^MQTT_SHARED_GROUP="a\/b"/],
    ['LOG_LEVEL', 'loud', /^LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent$/],
  ] as const) {
    test(`rejects ${name}=${JSON.stringify(value)} naming the variable, the value and what is expected`, () => {
      assert.match(configError({ [name]: value }).message, expected);
    });
  }

  test('PRESENCE_EMQX=true adds the EMQX presence filters for PRESENCE_EMQX_NODE', () => {
    assert.deepEqual(loadConfig({ MQTT_TOPICS: 'a/b', PRESENCE_EMQX: 'true' }, noFiles).mqtt.topics, [
      'a/b', '$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/+/disconnected',
    ]);
    assert.deepEqual(loadConfig({ MQTT_TOPICS: 'a/b', PRESENCE_EMQX: '1', PRESENCE_EMQX_NODE: 'emqx@10.0.0.1' }, noFiles).mqtt.topics.slice(1), [
      '$SYS/brokers/emqx@10.0.0.1/clients/+/connected', '$SYS/brokers/emqx@10.0.0.1/clients/+/disconnected',
    ]);
    assert.match(configError({ PRESENCE_EMQX: 'yes' }).message, /^PRESENCE_EMQX="yes": expected one of true, false, 1, 0$/);
    assert.deepEqual(loadConfig({ MQTT_TOPICS: 'a/b,$SYS/brokers/emqx@1/clients/#', PRESENCE_EMQX: 'true' }, noFiles).mqtt.topics, ['a/b', '$SYS/brokers/emqx@1/clients/#'], 'already reached: not widened');
  });

  test('SPARKPLUG=true adds spBv1.0/#, to the default list and to MQTT_TOPICS, unless MQTT_TOPICS already reaches Sparkplug', () => {
    assert.deepEqual(loadConfig({ SPARKPLUG: 'true' }, noFiles).mqtt.topics, ['sensors/+/+/telemetry', 'sensors/+/+/status', 'spBv1.0/#']);
    assert.deepEqual(loadConfig({ SPARKPLUG: 'true', MQTT_TOPICS: 'sensors/+/+/status' }, noFiles).mqtt.topics, ['sensors/+/+/status', 'spBv1.0/#']);
    assert.deepEqual(loadConfig({ SPARKPLUG: 'true', MQTT_TOPICS: 'spBv1.0/plant-a/#' }, noFiles).mqtt.topics, ['spBv1.0/plant-a/#']);
  });

  test('DEVICES_FILE is parsed at start-up; a bad one names the file and the problem', () => {
    const registry = loadConfig({ DEVICES_FILE: '/etc/devices.yaml' }, () => Buffer.from('strict: true\ndevices:\n  dev-1: { location: lab, group: g1 }\n')).devices.registry;
    assert.equal(registry.strict, true);
    assert.deepEqual(registry.devices.get('dev-1'), { location: 'lab', group: 'g1', tags: {} });
    const error = configError({ DEVICES_FILE: '/etc/devices.yaml' }, () => Buffer.from('devices:\n  dev-1: { room: 4 }\n'));
    assert.equal(error.message, 'DEVICES_FILE="/etc/devices.yaml": device "dev-1" at devices.dev-1: unknown key "room" (expected location, group, type, tags)');
  });

  test('ROUTES_FILE: a mistake names the file, the route, the path inside the file and the bad value (as docs/configuration.md shows)', () => {
    const routes = 'routes:\n  - { name: default, topic: "sensors/{location}/{device}/telemetry" }\n  - { name: home, topic: "home/{device}", format: xml }\n';
    assert.equal(configError({ ROUTES_FILE: 'routes.yaml' }, () => Buffer.from(routes)).message, 'ROUTES_FILE="routes.yaml": route "home" at routes[1].format: must be one of json, envelope, value, lp, got "xml"');
  });

  test('reads secrets from NAME_FILE, without the trailing newline', () => {
    const config = loadConfig({ INFLUX_TOKEN_FILE: '/run/secrets/token' }, (path) => {
      assert.equal(path, '/run/secrets/token');
      return Buffer.from('s3cret\n');
    });
    assert.equal(config.influx.token, 's3cret');
  });

  test('an unreadable secret file names the variable and the path, never a secret', () => {
    const error = configError({ MQTT_PASSWORD_FILE: '/nope' });
    assert.equal(error.message, 'MQTT_PASSWORD_FILE="/nope": cannot read the file (ENOENT)');
  });

  test('NAME and NAME_FILE together are refused', () => {
    assert.match(configError({ INFLUX_TOKEN: 'x', INFLUX_TOKEN_FILE: '/t' }).message, /either INFLUX_TOKEN or INFLUX_TOKEN_FILE/);
  });

  test('a client certificate without its key is refused', () => {
    const error = configError({ MQTT_CERT_FILE: '/c.pem' }, () => Buffer.from('pem'));
    assert.match(error.message, /^MQTT_KEY_FILE: expected to be set too/);
  });

  test('describeConfig never contains secret values', () => {
    const config = loadConfig(
      { MQTT_PASSWORD: 'mqtt-secret', INFLUX_TOKEN: 'token-secret', INFLUX_PASSWORD: 'pw-secret', INFLUX_URL: 'http://u:url-secret@db:8086' },
      noFiles,
    );
    const env = { MQTT_PASSWORD: 'mqtt-secret', INFLUX_TOKEN: 'token-secret', INFLUX_PASSWORD: 'pw-secret', INFLUX_URL: 'http://u:url-secret@db:8086' };
    const described = describeConfig(config, env);
    const text = JSON.stringify(described);
    for (const secret of ['mqtt-secret', 'token-secret', 'pw-secret', 'url-secret']) assert.ok(!text.includes(secret), secret);
    assert.match(text, /"tokenSet":true/);
    assert.deepEqual(Object.keys(described.environment as object), ['MQTT_PASSWORD', 'INFLUX_URL', 'INFLUX_TOKEN', 'INFLUX_PASSWORD'], 'the variables set, in schema order');
    assert.equal((described.environment as Record<string, string>).INFLUX_TOKEN, '(set)');
  });
});

describe('topicFilterProblem', () => {
  test('accepts valid filters and names the problem of invalid ones', () => {
    for (const ok of ['#', 'a/+/c', 'a/#', '+', '$SYS/brokers/+/clients/+/connected']) assert.equal(topicFilterProblem(ok), undefined, ok);
    assert.match(topicFilterProblem('a/b#') ?? '', /"#"/);
    assert.match(topicFilterProblem('a+/b') ?? '', /"\+"/);
    assert.match(topicFilterProblem('') ?? '', /empty/);
  });
});

describe('filtersOverlap', () => {
  for (const [a, b, overlap] of [
    ['sensors/+/+/status', 'sensors/+/+/status', true],
    ['sensors/#', 'sensors/+/+/status', true],
    ['#', 'sensors/+/+/status', true],
    ['sensors/lab/+/status', 'sensors/+/+/status', true],
    ['sensors/+/+/+', 'sensors/+/+/status', true],
    ['sensors/+/+/telemetry', 'sensors/+/+/status', false],
    ['sensors/+/status', 'sensors/+/+/status', false],
    ['sensors/+/+/status/x', 'sensors/+/+/status', false],
    ['#', '$SYS/brokers/+/clients/+/connected', false],
    ['+/brokers/#', '$SYS/brokers/+/clients/+/connected', false],
    ['$SYS/#', '$SYS/brokers/+/clients/+/connected', true],
    ['spBv1.0/#', 'spBv1.0/+/NDEATH/+', true],
  ] as const) {
    test(`${a} and ${b}: ${overlap ? 'overlap' : 'do not overlap'}`, () => {
      assert.equal(filtersOverlap(a, b), overlap);
      assert.equal(filtersOverlap(b, a), overlap);
    });
  }
});

describe('redactUrl', () => {
  test('hides the password of a URL and keeps the rest', () => {
    assert.equal(redactUrl('mqtt://user:pw@broker:1883'), 'mqtt://user:***@broker:1883');
    assert.equal(redactUrl('http://db:8086'), 'http://db:8086');
  });
});

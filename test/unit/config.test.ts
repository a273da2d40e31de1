import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, describeConfig, loadConfig, redactUrl, topicFilterProblem } from '../../ingestor/config.ts';

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
  });

  test('DEVICES_FILE is parsed at start-up; a bad one names the file and the problem', () => {
    const registry = loadConfig({ DEVICES_FILE: '/etc/devices.yaml' }, () => Buffer.from('strict: true\ndevices:\n  dev-1: { location: lab, group: g1 }\n')).devices.registry;
    assert.equal(registry.strict, true);
    assert.deepEqual(registry.devices.get('dev-1'), { location: 'lab', group: 'g1', tags: {} });
    const error = configError({ DEVICES_FILE: '/etc/devices.yaml' }, () => Buffer.from('devices:\n  dev-1: { room: 4 }\n'));
    assert.equal(error.message, 'DEVICES_FILE="/etc/devices.yaml": device "dev-1": unknown key "room" (expected location, group, type, tags)');
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
    const text = JSON.stringify(describeConfig(config));
    for (const secret of ['mqtt-secret', 'token-secret', 'pw-secret', 'url-secret']) assert.ok(!text.includes(secret), secret);
    assert.match(text, /"tokenSet":true/);
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

describe('redactUrl', () => {
  test('hides the password of a URL and keeps the rest', () => {
    assert.equal(redactUrl('mqtt://user:pw@broker:1883'), 'mqtt://user:***@broker:1883');
    assert.equal(redactUrl('http://db:8086'), 'http://db:8086');
  });
});

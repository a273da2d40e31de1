import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../ingestor/config.ts';
import { clientOptions, describeMqttError } from '../../ingestor/sources/mqtt.ts';

const noFiles = (): Buffer => {
  throw new Error('no files here');
};

describe('clientOptions', () => {
  test('MQTT_CLIENT_ID set: a persistent session (clean false, MQTT 5 session expiry > 0), and our own reconnection', () => {
    const options = clientOptions(loadConfig({ MQTT_CLIENT_ID: 'ingestor-1', MQTT_SESSION_EXPIRY_S: '3600', MQTT_USERNAME: 'u', MQTT_PASSWORD: 'p' }, noFiles).mqtt);
    assert.equal(options.clientId, 'ingestor-1');
    assert.equal(options.clean, false);
    assert.equal(options.protocolVersion, 5);
    assert.deepEqual(options.properties, { sessionExpiryInterval: 3600 });
    assert.equal(options.username, 'u');
    assert.equal(options.password, 'p');
    assert.equal(options.reconnectPeriod, 0);
    assert.equal(options.resubscribe, false);
    assert.equal(options.keepalive, 60, 'MQTT_KEEPALIVE_S defaults to mqtt.js\'s 60 s');
    assert.equal(clientOptions(loadConfig({ MQTT_KEEPALIVE_S: '5' }, noFiles).mqtt).keepalive, 5);
  });

  test('no MQTT_CLIENT_ID: a clean session, no session expiry', () => {
    const options = clientOptions(loadConfig({}, noFiles).mqtt);
    assert.equal(options.clean, true);
    assert.equal(options.properties, undefined);
    assert.equal(options.username, undefined);
  });

  test('MQTT 3.1.1 persistent session: clean false without MQTT 5 properties', () => {
    const options = clientOptions(loadConfig({ MQTT_CLIENT_ID: 'x', MQTT_PROTOCOL_VERSION: '4' }, noFiles).mqtt);
    assert.equal(options.clean, false);
    assert.equal(options.protocolVersion, 4);
    assert.equal(options.properties, undefined);
  });
});

describe('describeMqttError', () => {
  test('says what to check for refused credentials and an unreachable broker', () => {
    assert.match(describeMqttError(Object.assign(new Error('Connection refused: Bad username or password'), { code: 134 })), /check MQTT_USERNAME and MQTT_PASSWORD/);
    assert.match(describeMqttError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), /is the broker running at MQTT_URL\?/);
    assert.equal(describeMqttError(new Error('other')), 'other');
  });
});

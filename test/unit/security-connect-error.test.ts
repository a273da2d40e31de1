/** Connection errors in words a user can act on, and the shipped ACL's identity rules. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connectErrorLine, explainConnectError, type ConnectSettingNames } from '../../ingestor/sources/connect-error.ts';

const failure = (code: number | string | undefined, message = 'boom'): Error & { code?: number | string } =>
  Object.assign(new Error(message), code === undefined ? {} : { code });

describe('explainConnectError', () => {
  const cases: [number | string, RegExp, RegExp][] = [
    ['CERT_HAS_EXPIRED', /broker's certificate has expired/, /renew the broker's certificate/],
    ['CERT_NOT_YET_VALID', /not valid yet/, /clock/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', /does not match the host \(hostname mismatch\)/, /MQTT_URL/],
    ['SELF_SIGNED_CERT_IN_CHAIN', /not signed by a CA we trust \(unknown CA\)/, /set MQTT_CA_FILE/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /unknown CA/, /MQTT_CA_FILE/],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', /unknown CA/, /MQTT_CA_FILE/],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', /requires a client certificate/, /set MQTT_CERT_FILE and MQTT_KEY_FILE/],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', /does not trust our client certificate \(unknown CA\)/, /broker's cafile/],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', /our client certificate: it has expired/, /renew the certificate in MQTT_CERT_FILE/],
    ['ERR_SSL_WRONG_VERSION_NUMBER', /does not speak TLS/, /mqtt:\/\//],
    [134, /bad user name or password/, /check MQTT_USERNAME and MQTT_PASSWORD/],
    [4, /bad user name or password/, /MQTT_PASSWORD/],
    [135, /not authorized/, /ACL/],
    [5, /not authorized/, /ACL/],
    ['ECONNREFUSED', /connection refused/, /is the broker running at MQTT_URL\?/],
    ['ENOTFOUND', /does not resolve/, /MQTT_URL/],
  ];
  for (const [code, cause, hint] of cases) {
    test(`${code}: names the cause and the setting`, () => {
      const explained = explainConnectError(failure(code));
      assert.equal(explained.key, String(code));
      assert.match(explained.cause ?? '', cause);
      assert.match(explained.hint ?? '', hint);
    });
  }

  test('an unknown error keeps its code as the key and no guess', () => {
    assert.deepEqual(explainConnectError(failure('EWHATEVER')), { key: 'EWHATEVER', cause: undefined, hint: undefined });
    assert.deepEqual(explainConnectError(failure(undefined, 'odd')), { key: 'odd', cause: undefined, hint: undefined });
  });

  test('hints can name other settings (the simulator\'s flags)', () => {
    const names: ConnectSettingNames = { url: '--url', ca: '--ca', cert: '--cert and --key', credentials: '--username and --password' };
    assert.match(explainConnectError(failure('SELF_SIGNED_CERT_IN_CHAIN'), names).hint ?? '', /set --ca /);
    assert.match(explainConnectError(failure(134), names).hint ?? '', /--username and --password/);
  });
});

describe('connectErrorLine', () => {
  test('cause (code): hint, or the bare message', () => {
    assert.equal(
      connectErrorLine(failure('CERT_HAS_EXPIRED', 'certificate has expired')),
      "the broker's certificate has expired (CERT_HAS_EXPIRED): renew the broker's certificate (or check this machine's clock)",
    );
    assert.equal(connectErrorLine(failure('EWHATEVER', 'something odd')), 'something odd');
  });
});

describe('the shipped Mosquitto ACL', () => {
  const acl = readFileSync(join(import.meta.dirname, '..', '..', 'broker', 'mosquitto', 'acl'), 'utf8');
  const rules = acl.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));

  test('binds devices to their user name, never to the client id they choose', () => {
    assert.ok(rules.every((rule) => !rule.includes('%c')), rules.join('\n'));
    assert.deepEqual(rules.filter((rule) => rule.startsWith('pattern')), ['pattern write sensors/+/%u/#', 'pattern read sensors/+/%u/commands/#']);
  });

  test('gives the ingestor\'s user read rules only, and keeps it from posing as a device', () => {
    const monitor = rules.slice(rules.indexOf('user monitor') + 1);
    const block = monitor.slice(0, monitor.findIndex((rule) => !rule.startsWith('topic')));
    assert.deepEqual(block, ['topic deny sensors/+/monitor/#', 'topic read sensors/#', 'topic read spBv1.0/#', 'topic read $SYS/#'], 'Sparkplug B too (SPARKPLUG=true), as in broker/emqx/acl.conf');
  });
});

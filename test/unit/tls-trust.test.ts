/**
 * TLS to InfluxDB and to the bots, the pure parts: the shared explanation of
 * certificate errors, CA files checked at start-up, what a TLS failure of a
 * write comes to (outcome, log line, /readyz).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { readCaFile } from '../../common/config/certificates.ts';
import { ConfigError } from '../../common/config/schema.ts';
import { explainTlsError, tlsErrorLine, type TlsPeer } from '../../common/tls-error.ts';
import { loadConfig as loadIngestorConfig } from '../../ingestor/config.ts';
import { assessReadiness } from '../../ingestor/health/readiness.ts';
import { Delivery } from '../../ingestor/writer/delivery.ts';
import { InfluxHealth } from '../../ingestor/writer/influx-health.ts';
import { influxClientOptions, INFLUX_TLS_PEER, transportFailure } from '../../ingestor/writer/influx-http.ts';
import type { WriteOutcome } from '../../ingestor/writer/outcome.ts';
import { loadConfig as loadNotifierConfig } from '../../notifier/config.ts';
import { transportOutcome } from '../../notifier/platforms/outcome.ts';
import { loadSetupConfig } from '../../influxdb/setup.ts';

/** A real certificate (its key was thrown away; the tests that connect make a fresh PKI per run). */
const PEM = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT+gAwIBAgIUJXs1tv+7oBWv9nP7Kg5SA9Mo0bIwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXc2Vuc29yZmxvdyB1bml0LXRlc3QgQ0EwHhcNMjYxMTIzMDgy
ODI1WhcNMzYxMTIwMDgyODI1WjAiMSAwHgYDVQQDDBdzZW5zb3JmbG93IHVuaXQt
dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFHnDkQbpAeHMz0kmWJn
KecwxqNrTVgQU+CqtM82cYl+5GokBUtXRbUgSFd+qVjDJMogIzgUkHAd/9KbHIBh
NY6jUzBRMB0GA1UdDgQWBBSPam0x1yUaxr9nc4U5MuW35Z14OTAfBgNVHSMEGDAW
gBSPam0x1yUaxr9nc4U5MuW35Z14OTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0cAMEQCIH2ZgPeYMuuR8icBoahLOZkpMVp5JedJg7ad9nPL0cBFAiBdBuPn
6XIRasriFZTndt90SaOwZd1Rj5waWSCISVD4bw==
-----END CERTIFICATE-----`;

const failure = (code: string | undefined, message = 'boom'): Error => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('explainTlsError (shared by MQTT, InfluxDB and the notifier)', () => {
  const influx: TlsPeer = INFLUX_TLS_PEER;
  const cases: [string, RegExp, RegExp][] = [
    ['CERT_HAS_EXPIRED', /^InfluxDB's certificate has expired$/, /renew InfluxDB's certificate/],
    ['CERT_NOT_YET_VALID', /^InfluxDB's certificate is not valid yet$/, /clock/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', /does not match the host \(hostname mismatch\)/, /host name in INFLUX_URL/],
    ['SELF_SIGNED_CERT_IN_CHAIN', /not signed by a CA we trust \(unknown CA\)/, /^set INFLUX_CA_FILE to the CA that signed InfluxDB's certificate$/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /unknown CA/, /INFLUX_CA_FILE/],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', /unknown CA/, /INFLUX_CA_FILE/],
    ['ERR_SSL_WRONG_VERSION_NUMBER', /^InfluxDB does not speak TLS on this port$/, /use http:\/\/ in INFLUX_URL/],
  ];
  for (const [code, cause, hint] of cases) {
    test(`${code}: the cause names InfluxDB, the hint names the setting`, () => {
      const explained = explainTlsError(code, influx);
      assert.ok(explained !== undefined);
      assert.match(explained.cause, cause);
      assert.match(explained.hint, hint);
    });
  }

  test('client-certificate alerts only for a client that can send one', () => {
    assert.equal(explainTlsError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', influx), undefined);
    assert.match(explainTlsError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', { ...influx, cert: 'X_CERT' })?.hint ?? '', /^set X_CERT$/);
  });

  test('not a TLS problem: no explanation (network errors stay network errors)', () => {
    for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'EWHATEVER', 4, undefined] as unknown[]) assert.equal(explainTlsError(code, influx), undefined, String(code));
  });

  test('tlsErrorLine: "cause (CODE): hint", the code found on the error or under fetch\'s cause', () => {
    assert.equal(
      tlsErrorLine(failure('CERT_HAS_EXPIRED'), influx),
      "InfluxDB's certificate has expired (CERT_HAS_EXPIRED): renew InfluxDB's certificate (or check this machine's clock)",
    );
    const fetchError = Object.assign(new TypeError('fetch failed'), { cause: failure('ERR_TLS_CERT_ALTNAME_INVALID') });
    assert.match(tlsErrorLine(fetchError, influx) ?? '', /^InfluxDB's certificate does not match the host \(hostname mismatch\) \(ERR_TLS_CERT_ALTNAME_INVALID\): /);
    assert.equal(tlsErrorLine(failure('ECONNREFUSED'), influx), undefined);
  });
});

describe('CA files (readCaFile)', () => {
  const reading = (files: Record<string, string>) => (path: string): Buffer => {
    const content = files[path];
    if (content === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return Buffer.from(content);
  };

  test('a PEM bundle is returned as it is', () => {
    assert.equal(readCaFile('X_CA_FILE', '/ca.pem', reading({ '/ca.pem': `${PEM}\n${PEM}\n` })).toString(), `${PEM}\n${PEM}\n`);
  });

  test('missing, not PEM, or a certificate that does not parse: one error naming the setting, the path and what is expected', () => {
    const error = (files: Record<string, string>): string => {
      try {
        readCaFile('INFLUX_CA_FILE', '/ca.pem', reading(files));
      } catch (thrown) {
        assert.ok(thrown instanceof ConfigError);
        return thrown.message;
      }
      assert.fail('expected a ConfigError');
    };
    assert.equal(error({}), 'INFLUX_CA_FILE="/ca.pem": cannot read the file (ENOENT)');
    assert.equal(error({ '/ca.pem': 'not a certificate\n' }), 'INFLUX_CA_FILE="/ca.pem": expected a PEM file with the CA certificate(s) to trust (-----BEGIN CERTIFICATE-----), but it has none');
    assert.equal(error({ '/ca.pem': '-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n' }), 'INFLUX_CA_FILE="/ca.pem": expected a PEM file with the CA certificate(s) to trust (-----BEGIN CERTIFICATE-----), but it has none');
    assert.match(error({ '/ca.pem': `${PEM}\n-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n` }), /^INFLUX_CA_FILE="\/ca\.pem": expected PEM CA certificates, but certificate 2 of 2 does not parse \(/);
  });

  test('the ingestor, setup and the notifier read their CA settings with it', () => {
    const readFile = reading({ '/ca.pem': PEM, '/key.pem': '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n' });
    assert.equal(loadIngestorConfig({ INFLUX_URL: 'https://influxdb:8086', INFLUX_CA_FILE: '/ca.pem' }, readFile).influx.ca?.toString(), PEM);
    assert.equal(loadIngestorConfig({}, readFile).influx.ca, undefined);
    assert.throws(() => loadIngestorConfig({ INFLUX_URL: 'https://influxdb:8086', INFLUX_CA_FILE: '/key.pem' }, readFile), /^ConfigError: INFLUX_CA_FILE="\/key.pem": expected a PEM file/);
    assert.throws(() => loadIngestorConfig({ MQTT_CA_FILE: '/key.pem' }, readFile), /^ConfigError: MQTT_CA_FILE="\/key.pem": expected a PEM file/);
    const setup = loadSetupConfig({ INFLUX_API: 'v1', INFLUX_URL: 'https://influxdb:8086', INFLUX_CA_FILE: '/ca.pem' }, (path) => readFile(path).toString());
    assert.equal(setup.ca?.toString(), PEM);
    assert.throws(() => loadSetupConfig({ INFLUX_API: 'v1', INFLUX_URL: 'https://influxdb:8086', INFLUX_CA_FILE: '/nope' }, (path) => readFile(path).toString()), /INFLUX_CA_FILE="\/nope": cannot read the file \(ENOENT\)/);
    const notifier = loadNotifierConfig({ NOTIFIER_TOKEN: 'x'.repeat(24), NOTIFIER_CA_FILE: '/ca.pem' }, readFile);
    assert.equal(notifier.ca?.toString(), PEM);
    assert.throws(() => loadNotifierConfig({ NOTIFIER_TOKEN: 'x'.repeat(24), NOTIFIER_CA_FILE: '/key.pem' }, readFile), /^ConfigError: NOTIFIER_CA_FILE="\/key.pem": expected a PEM file/);
  });

  test('INFLUX_CA_FILE with an http:// INFLUX_URL is refused: the CA would be ignored and the token sent in clear', () => {
    const readFile = reading({ '/ca.pem': PEM });
    const expected = 'INFLUX_CA_FILE="/ca.pem": only used over TLS, but INFLUX_URL="http://influxdb:8086" is http://: expected an https:// INFLUX_URL, or unset INFLUX_CA_FILE';
    assert.throws(() => loadIngestorConfig({ INFLUX_URL: 'http://influxdb:8086', INFLUX_CA_FILE: '/ca.pem' }, readFile), { message: expected });
    assert.throws(() => loadSetupConfig({ INFLUX_API: 'v1', INFLUX_URL: 'http://influxdb:8086', INFLUX_CA_FILE: '/ca.pem' }, (path) => readFile(path).toString()), { message: expected });
  });
});

describe('a TLS failure of a write to InfluxDB', () => {
  test('the client gets the CA as https.request options, only when one is set', () => {
    const ca = Buffer.from(PEM);
    assert.deepEqual(influxClientOptions({ url: 'https://db:8086', timeoutMs: 5000, ca }), { url: 'https://db:8086', timeout: 5000, transportOptions: { ca } });
    assert.deepEqual(influxClientOptions({ url: 'http://db:8086', timeoutMs: 5000, ca: undefined }), { url: 'http://db:8086', timeout: 5000 });
  });

  test('is a tls_error whose message says what to fix; other failures stay network errors', () => {
    assert.deepEqual(transportFailure(failure('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames")), {
      kind: 'tls_error',
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      message: "InfluxDB's certificate does not match the host (hostname mismatch) (ERR_TLS_CERT_ALTNAME_INVALID): use a host name in INFLUX_URL that the certificate lists in subjectAltName, or reissue the certificate for this host",
    });
    assert.deepEqual(transportFailure(failure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8086')), { kind: 'network_error', message: 'connect ECONNREFUSED 127.0.0.1:8086' });
    assert.deepEqual(transportFailure(failure('ECONNRESET', 'socket hang up')), { kind: 'network_error', message: 'ECONNRESET: socket hang up' });
  });

  test('one error line per cause, slow retries, and /readyz says why until a write succeeds', async () => {
    const expired: WriteOutcome = transportFailure(failure('CERT_HAS_EXPIRED'));
    const wrongHost: WriteOutcome = transportFailure(failure('ERR_TLS_CERT_ALTNAME_INVALID'));
    const script = [expired, expired, expired, wrongHost, wrongHost, { kind: 'written' } as const];
    const lines: { level: number; msg: string; code?: string }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const delays: number[] = [];
    const health = new InfluxHealth(() => Date.UTC(2026, 10, 23, 6));
    const warnings: (readonly string[])[] = [];
    const delivery = new Delivery({
      send: () => Promise.resolve(script.shift() ?? { kind: 'written' }),
      log,
      health,
      target: 'INFLUX_URL=https://influxdb:8086',
      misconfiguredRetryMs: 30_000,
      sleep: (ms) => {
        delays.push(ms);
        warnings.push(assessReadiness({ stopping: false, brokerConnected: true, append: { kind: 'open' }, influx: health.state, walDirSetting: 'WAL_DIR', influxTarget: 'INFLUX_URL=https://influxdb:8086' }).warnings);
        return Promise.resolve();
      },
      events: { written: () => undefined, rejected: () => undefined, retrying: () => undefined },
    });
    await delivery.deliver(['m f=1 1']);
    assert.deepEqual(delays, [30_000, 30_000, 30_000, 30_000, 30_000], 'retried slowly, like a misconfiguration');
    const errors = lines.filter((line) => line.level === 50);
    assert.deepEqual(errors.map((line) => line.msg), [
      "InfluxDB at INFLUX_URL=https://influxdb:8086: InfluxDB's certificate has expired (CERT_HAS_EXPIRED): renew InfluxDB's certificate (or check this machine's clock); keeping the data in the write-ahead log and retrying every 30 s",
      "InfluxDB at INFLUX_URL=https://influxdb:8086: InfluxDB's certificate does not match the host (hostname mismatch) (ERR_TLS_CERT_ALTNAME_INVALID): use a host name in INFLUX_URL that the certificate lists in subjectAltName, or reissue the certificate for this host; keeping the data in the write-ahead log and retrying every 30 s",
    ], 'one line per distinct cause, not one per retry');
    assert.deepEqual(errors.map((line) => line.code), ['CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']);
    assert.equal(warnings[0]![0], "InfluxDB not trusted since 2026-11-23T06:00:00.000Z (INFLUX_URL=https://influxdb:8086: tls_error: InfluxDB's certificate has expired (CERT_HAS_EXPIRED): renew InfluxDB's certificate (or check this machine's clock)); the write-ahead log keeps the data");
    assert.match(warnings[4]![0]!, /tls_error: InfluxDB's certificate does not match the host/);
    assert.equal(health.state.kind, 'writing');
    assert.ok(lines.some((line) => line.msg === 'InfluxDB accepts writes again'));
  });
});

describe('a TLS failure of a post to a bot (notifier)', () => {
  test('is misconfigured (never retried) with the fix naming NOTIFIER_CA_FILE or the URL; other network errors retry', () => {
    const unknownCa = transportOutcome({ ok: false, error: 'self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)', code: 'SELF_SIGNED_CERT_IN_CHAIN' }, 'DingTalk bot "dingtalk"');
    assert.deepEqual(unknownCa, {
      kind: 'misconfigured',
      reason: 'certificate',
      detail: 'self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)',
      fix: "DingTalk bot \"dingtalk\": the webhook host's certificate is not signed by a CA we trust (unknown CA): set NOTIFIER_CA_FILE to the CA that signed the webhook host's certificate",
    });
    const wrongHost = transportOutcome({ ok: false, error: 'altnames (ERR_TLS_CERT_ALTNAME_INVALID)', code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'Feishu bot "oncall"');
    assert.match(wrongHost?.kind === 'misconfigured' ? wrongHost.fix : '', /^Feishu bot "oncall": the webhook host's certificate does not match the host \(hostname mismatch\): use a host name in Feishu bot "oncall"'s webhook URL that the certificate lists/);
    assert.deepEqual(transportOutcome({ ok: false, error: 'connect ECONNREFUSED 127.0.0.1:1 (ECONNREFUSED)', code: 'ECONNREFUSED' }, 'X'), { kind: 'retry', reason: 'network', detail: 'connect ECONNREFUSED 127.0.0.1:1 (ECONNREFUSED)' });
  });
});

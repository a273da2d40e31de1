/**
 * The image's health check asks the service where it listens: its own port
 * and host settings, not a fixed 127.0.0.1:8080 (issue 19, defect 10).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { healthcheckTarget } from '../../common/healthcheck-target.ts';

describe('healthcheckTarget', () => {
  test('the ingestor (the image\'s default command): HTTP_PORT and HTTP_HOST, a wildcard asked on loopback', () => {
    assert.deepEqual(healthcheckTarget({}), { kind: 'http', url: 'http://127.0.0.1:8080/healthz' });
    assert.deepEqual(healthcheckTarget({ HTTP_PORT: '9123', HTTP_HOST: '0.0.0.0' }), { kind: 'http', url: 'http://127.0.0.1:9123/healthz' });
    assert.deepEqual(healthcheckTarget({ HTTP_PORT: '9123', HTTP_HOST: '10.1.2.3' }), { kind: 'http', url: 'http://10.1.2.3:9123/healthz' });
    assert.deepEqual(healthcheckTarget({ HTTP_PORT: '9123', HTTP_HOST: '::' }), { kind: 'http', url: 'http://[::1]:9123/healthz' });
    assert.deepEqual(healthcheckTarget({ HTTP_PORT: '9123', HTTP_HOST: 'fd00::5' }), { kind: 'http', url: 'http://[fd00::5]:9123/healthz' });
  });

  test('the notifier (a NOTIFIER_ setting in its environment): NOTIFIER_PORT and NOTIFIER_HOST, 8090 by default', () => {
    assert.deepEqual(healthcheckTarget({ NOTIFIER_TOKEN: 't' }), { kind: 'http', url: 'http://127.0.0.1:8090/healthz' });
    assert.deepEqual(healthcheckTarget({ NOTIFIER_TOKEN: 't', NOTIFIER_PORT: '9200', NOTIFIER_HOST: '0.0.0.0', HTTP_PORT: '8080' }), { kind: 'http', url: 'http://127.0.0.1:9200/healthz' });
  });

  test('HEALTHCHECK_URL wins; HEALTHCHECK_MQTT=true is the simulator\'s MQTT check', () => {
    assert.deepEqual(healthcheckTarget({ HEALTHCHECK_URL: 'http://example.test:1/healthz', HTTP_PORT: '9123' }), { kind: 'http', url: 'http://example.test:1/healthz' });
    assert.deepEqual(healthcheckTarget({ HEALTHCHECK_MQTT: 'true', HTTP_PORT: '9123' }), { kind: 'mqtt' });
  });

  test('a server turned off or a bad setting: one line naming the variable', () => {
    assert.deepEqual(healthcheckTarget({ HTTP_PORT: '0' }), { kind: 'none', problem: 'HTTP_PORT=0 turns the HTTP server off; set HEALTHCHECK_URL to what should be asked' });
    const bad = healthcheckTarget({ NOTIFIER_TOKEN: 't', NOTIFIER_PORT: 'eighty' });
    assert.equal(bad.kind, 'none');
    assert.match((bad as { problem: string }).problem, /^NOTIFIER_PORT="eighty": /);
    const badUrl = healthcheckTarget({ HEALTHCHECK_URL: 'ftp://x/' });
    assert.match((badUrl as { problem: string }).problem, /^HEALTHCHECK_URL="ftp:\/\/x\/": expected a URL starting with http:\/\//);
  });
});

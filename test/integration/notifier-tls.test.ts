/**
 * The notifier's posts over https with a private CA (NOTIFIER_CA_FILE): the
 * DingTalk / Feishu stand-ins serve https with certificates made by `openssl`
 * for this run (test/harness/certs.ts), as a private deployment or a
 * TLS-inspecting proxy would.
 * - with the CA, alerts are delivered (content checked) and `--test` says so;
 * - without it, with an expired certificate or one for another host: the
 *   notification is not retried, ONE error line names the cause and the
 *   setting to fix, and the notification waits in dead/<bot>/.
 * Spawns the notifier: run under the shared lock.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makePki, type TestPki } from '../harness/certs.ts';
import { BotStandIn, messageText } from '../harness/im-bots.ts';
import { deviceAlert, notification, postWebhook, tempDir, TOKEN } from '../harness/notifier-app.ts';
import { runNotifier, startNotifierProcess } from '../harness/notifier-process.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';

const PINO_ERROR = 50;
const DINGTALK_SECRET = 'SECtls0123456789abcdef';
const FEISHU_SECRET = 'feishu-tls-secret';

describe('notifier over TLS with NOTIFIER_CA_FILE', () => {
  let pki: TestPki;
  let dingtalk: BotStandIn;
  let feishuExpired: BotStandIn;
  let dingtalkWrongHost: BotStandIn;

  before(async () => {
    pki = makePki();
    [dingtalk, feishuExpired, dingtalkWrongHost] = await Promise.all([
      BotStandIn.start({ platform: 'dingtalk', secret: DINGTALK_SECRET, tls: pki.server }),
      BotStandIn.start({ platform: 'feishu', secret: FEISHU_SECRET, tls: pki.serverExpired }),
      BotStandIn.start({ platform: 'dingtalk', secret: DINGTALK_SECRET, tls: pki.serverWrongHost }),
    ]);
  });

  after(async () => {
    await Promise.all([dingtalk.stop(), feishuExpired.stop(), dingtalkWrongHost.stop()]);
    pki.remove();
  });

  test('--test: delivered with the CA; without it, or to another host\'s certificate, the line says what to fix', async () => {
    assert.match(dingtalk.url, /^https:\/\/127\.0\.0\.1:\d+\/robot\/send\?access_token=/);
    const env = { NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: dingtalk.url, DINGTALK_SECRET, NOTIFIER_LANGUAGE: 'en' };
    const trusted = await runNotifier(['--test'], { ...env, NOTIFIER_CA_FILE: pki.ca });
    assert.equal(trusted.status, 0, trusted.stderr + trusted.stdout);
    assert.match(trusted.stdout, /^dingtalk \(dingtalk, https:\/\/127\.0\.0\.1:\d+\/robot\/send\?access_token=tok3\*\*\*, signed\): HTTP 200 \{"errcode":0,"errmsg":"ok"\} → delivered\n$/);
    assert.equal(dingtalk.delivered.length, 1);
    assert.match(messageText(dingtalk.delivered[0]!), /test/i);

    const untrusted = await runNotifier(['--test'], env);
    assert.equal(untrusted.status, 1);
    assert.match(
      untrusted.stdout,
      /^dingtalk \(dingtalk, https:\/\/\S+, signed\): unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\) → DingTalk bot "dingtalk": the webhook host's certificate is not signed by a CA we trust \(unknown CA\): set NOTIFIER_CA_FILE to the CA that signed the webhook host's certificate\n$/,
    );

    const wrongHost = await runNotifier(['--test'], { ...env, DINGTALK_WEBHOOK_URL: dingtalkWrongHost.url, NOTIFIER_CA_FILE: pki.ca });
    assert.equal(wrongHost.status, 1);
    assert.match(
      wrongHost.stdout,
      /\(ERR_TLS_CERT_ALTNAME_INVALID\) → DingTalk bot "dingtalk": the webhook host's certificate does not match the host \(hostname mismatch\): use a host name in DingTalk bot "dingtalk"'s webhook URL that the certificate lists in subjectAltName, or reissue the certificate for this host\n$/,
    );
    assert.equal(dingtalk.delivered.length + dingtalkWrongHost.delivered.length, 1, 'nothing else got through');

    const notPem = await runNotifier(['--test'], { ...env, NOTIFIER_CA_FILE: pki.server.key });
    assert.equal(notPem.status, 2);
    assert.equal(notPem.stderr, `sensorflow-notifier: invalid configuration: NOTIFIER_CA_FILE="${pki.server.key}": expected a PEM file with the CA certificate(s) to trust (-----BEGIN CERTIFICATE-----), but it has none\n`);
  });

  test('serving: the trusted bot gets the alert; the expired one gets one error line, no retries, and the notification in dead/', async () => {
    const queue = tempDir('notifier-tls-queue-');
    const port = await freePort();
    const notifier = await startNotifierProcess({
      NOTIFIER_TOKEN: TOKEN, NOTIFIER_QUEUE_DIR: queue.path, NOTIFIER_CA_FILE: pki.ca, NOTIFIER_LANGUAGE: 'en',
      DINGTALK_WEBHOOK_URL: dingtalk.url, DINGTALK_SECRET, FEISHU_WEBHOOK_URL: feishuExpired.url, FEISHU_SECRET,
    }, port, 'notifier-tls');
    try {
      const before = dingtalk.delivered.length;
      for (const device of ['tls-001', 'tls-002']) {
        const reply = await postWebhook(port, notification([deviceAlert(device)]));
        assert.equal(reply.status, 200, reply.body);
        await waitFor(`${device} delivered to DingTalk and buried for Feishu`, () => {
          const delivered = dingtalk.delivered.slice(before).some((request) => messageText(request).includes(device));
          const dead = readdirSync(join(queue.path, 'dead', 'feishu')).filter((name) => name.endsWith('.json'));
          return delivered && dead.length === (device === 'tls-001' ? 1 : 2) ? true : undefined;
        });
      }
      assert.deepEqual(dingtalk.delivered.slice(before).map((request) => /Device (tls-\d+) is offline/.exec(messageText(request))?.[1]), ['tls-001', 'tls-002']);
      assert.equal(feishuExpired.requests.length, 0, 'the handshake failed: nothing reached the expired host');

      const lines = notifier.process.log().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
      const errors = lines.filter((line) => line.level === PINO_ERROR);
      assert.equal(errors.length, 1, `one line for the cause, not one per notification:\n${JSON.stringify(errors, null, 1)}`);
      assert.equal(errors[0]!.bot, 'feishu');
      assert.equal(
        errors[0]!.msg,
        `Feishu bot "feishu": the webhook host's certificate has expired: renew the webhook host's certificate (or check this machine's clock) (certificate has expired (CERT_HAS_EXPIRED)); not retried, kept in ${join(queue.path, 'dead', 'feishu')}`,
      );
      assert.equal(lines.filter((line) => line.msg === 'delivery failed; will retry').length, 0, 'never retried');
      const buried = readdirSync(join(queue.path, 'dead', 'feishu')).filter((name) => name.endsWith('.json'));
      assert.ok(buried.some((name) => readFileSync(join(queue.path, 'dead', 'feishu', name), 'utf8').includes('tls-002')), 'the notification is kept to resend once fixed');
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^notifier_send_failures_total\{bot="feishu",reason="certificate"\} 2$/m);
      assert.match(metrics, /^notifier_notifications_given_up_total\{bot="feishu"\} 2$/m);
    } finally {
      await notifier.process.stop();
      notifier.cleanup();
      queue.remove();
    }
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mayPublish, maySubscribe } from '../../broker/dev/acl.ts';
import { connectedPayload, disconnectedPayload, presenceTopic } from '../../broker/dev/emqx-events.ts';
import { authenticate, parseUsers } from '../../broker/dev/users.ts';
import { emqxPresenceHandler } from '../../ingestor/decoders/presence-emqx.ts';
import { decodeWith } from '../harness/decode.ts';

describe('dev broker ACL (same rules as broker/emqx/acl.conf)', () => {
  test('a device publishes only under sensors/+/{its client id}/', () => {
    assert.equal(mayPublish('device', 'dev-1', 'sensors/lab/dev-1/telemetry'), true);
    assert.equal(mayPublish('device', 'dev-1', 'sensors/lab/dev-1/status'), true);
    assert.equal(mayPublish('device', 'dev-1', 'sensors/lab/dev-2/telemetry'), false);
    assert.equal(mayPublish('device', 'dev-1', 'sensors/dev-1/telemetry'), false);
    assert.equal(mayPublish('device', 'dev-1', '$SYS/brokers/x/clients/dev-1/connected'), false);
    assert.equal(mayPublish('monitor', 'ingestor', 'sensors/lab/ingestor/telemetry'), false);
  });

  test('only the monitor reads $SYS/#; a device subscribes only to its own topics', () => {
    assert.equal(maySubscribe('monitor', 'ingestor', '$SYS/brokers/+/clients/+/connected'), true);
    assert.equal(maySubscribe('monitor', 'ingestor', '$share/g/sensors/+/+/telemetry'), true);
    assert.equal(maySubscribe('device', 'dev-1', '$SYS/#'), false);
    assert.equal(maySubscribe('device', 'dev-1', '#'), false);
    assert.equal(maySubscribe('device', 'dev-1', 'sensors/#'), false);
    assert.equal(maySubscribe('device', 'dev-1', 'sensors/+/dev-1/commands'), true);
    assert.equal(maySubscribe('device', 'dev-1', 'sensors/+/+/telemetry'), false);
  });
});

describe('dev broker users', () => {
  const users = parseUsers('users.yaml', 'allow_anonymous_devices: false\nusers:\n  - { username: monitor, password: s3cret, role: monitor }\n');

  test('checks the password; anonymous devices only when allowed', () => {
    assert.equal(authenticate(users, 'monitor', Buffer.from('s3cret')), 'monitor');
    assert.equal(authenticate(users, 'monitor', Buffer.from('wrong!')), undefined);
    assert.equal(authenticate(users, 'monitor', undefined), undefined);
    assert.equal(authenticate(users, 'nobody', Buffer.from('x')), undefined);
    assert.equal(authenticate(users, undefined, undefined), undefined);
    assert.equal(authenticate(parseUsers('u.yaml', 'users: []'), undefined, undefined), 'device');
  });

  test('a malformed users file names the file and the entry', () => {
    assert.throws(() => parseUsers('u.yaml', 'users:\n  - { username: x, role: admin }\n'), /^Error: u\.yaml: users\[0\] must have a username, a password and a role \(monitor or device\)$/);
  });
});

describe('dev broker EMQX events', () => {
  const info = { clientid: 'dev-1', username: undefined, ipaddress: '127.0.0.1', sockport: 1883, protoVer: 4, keepalive: 60, cleanStart: true, expiryInterval: 0, connectedAt: 1732280000000 };

  test('carry EMQX 5\'s fields, and the ingestor reads them back', () => {
    const connected = connectedPayload(info, 1732280000001);
    assert.deepEqual(Object.keys(connected).sort(), ['clean_start', 'clientid', 'connected_at', 'expiry_interval', 'ipaddress', 'keepalive', 'proto_name', 'proto_ver', 'sockport', 'ts', 'username']);
    const disconnected = disconnectedPayload(info, 'keepalive_timeout', 1732280005000);
    assert.deepEqual(Object.keys(disconnected).sort(), ['clientid', 'connected_at', 'disconnected_at', 'ipaddress', 'proto_name', 'proto_ver', 'reason', 'sockport', 'ts', 'username']);
    const decoded = decodeWith(emqxPresenceHandler, { topic: presenceTopic('n@h', 'dev-1', 'disconnected'), payload: Buffer.from(JSON.stringify(disconnected)), receivedAtMs: 1732280005000 }, { maxFutureMs: 60_000 });
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.presence?.[0], { device: 'dev-1', source: 'emqx', online: false, atMs: 1732280005000, reason: 'keepalive_timeout', ip: '127.0.0.1', connectedAtMs: 1732280000000 });
  });
});

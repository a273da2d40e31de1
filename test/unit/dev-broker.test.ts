import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deviceNameProblem, mayPublish, maySubscribe } from '../../broker/dev/acl.ts';
import { connectedPayload, disconnectedPayload, presenceTopic } from '../../broker/dev/emqx-events.ts';
import { authenticate, parseUsers } from '../../broker/dev/users.ts';
import { emqxPresenceHandler } from '../../ingestor/decoders/presence-emqx.ts';
import { decodeWith } from '../harness/decode.ts';

describe('dev broker ACL (same rules as broker/emqx/acl.conf and broker/mosquitto/acl)', () => {
  const device = (username: string) => ({ username, role: 'device' as const });
  const monitor = { username: 'monitor', role: 'monitor' as const };
  const gateway = { username: 'gateway', role: 'gateway' as const };
  const commander = { username: 'commander', role: 'commander' as const };

  test('a device publishes only under sensors/+/{its user name}/', () => {
    assert.equal(mayPublish(device('dev-1'), 'sensors/lab/dev-1/telemetry'), true);
    assert.equal(mayPublish(device('dev-1'), 'sensors/lab/dev-1/status'), true);
    assert.equal(mayPublish(device('dev-1'), 'sensors/lab/dev-2/telemetry'), false);
    assert.equal(mayPublish(device('dev-1'), 'sensors/dev-1/telemetry'), false);
    assert.equal(mayPublish(device('dev-1'), 'sensors/lab/dev-1'), true, 'as sensors/+/%u/# on Mosquitto and sensors/+/${username}/# on EMQX');
    assert.equal(mayPublish(device('dev-1'), '$SYS/brokers/x/clients/dev-1/connected'), false);
    assert.equal(mayPublish(device('dev-1'), 'sensors/+/dev-1/telemetry'), false, 'no wildcards in a topic name');
    assert.equal(mayPublish(monitor, 'sensors/lab/monitor/telemetry'), false, 'the monitor publishes nothing, not even as a device named after it');
  });

  test('a gateway publishes for any device; the commander only commands', () => {
    assert.equal(mayPublish(gateway, 'sensors/lab/dev-7/telemetry'), true);
    assert.equal(mayPublish(gateway, 'sensors/yard/dev-8/status'), true);
    assert.equal(mayPublish(gateway, 'other/lab/dev-7/telemetry'), false);
    assert.equal(mayPublish(gateway, '$SYS/brokers/x/clients/dev-7/connected'), false);
    assert.equal(mayPublish(commander, 'sensors/lab/dev-7/commands'), true);
    assert.equal(mayPublish(commander, 'sensors/lab/dev-7/commands/ota'), true);
    assert.equal(mayPublish(commander, 'sensors/lab/dev-7/telemetry'), false);
    assert.equal(mayPublish(commander, 'sensors/lab/commander/telemetry'), false);
  });

  test('only the monitor reads $SYS/# and telemetry; devices and gateways read commands only', () => {
    assert.equal(maySubscribe(monitor, '$SYS/brokers/+/clients/+/connected'), true);
    assert.equal(maySubscribe(monitor, '$share/g/sensors/+/+/telemetry'), true);
    assert.equal(maySubscribe(device('dev-1'), '$SYS/#'), false);
    assert.equal(maySubscribe(device('dev-1'), '#'), false);
    assert.equal(maySubscribe(device('dev-1'), 'sensors/#'), false);
    assert.equal(maySubscribe(device('dev-1'), 'sensors/+/dev-1/#'), false, 'its own telemetry is not its to read');
    assert.equal(maySubscribe(device('dev-1'), 'sensors/+/dev-1/commands'), true);
    assert.equal(maySubscribe(device('dev-1'), 'sensors/lab/dev-1/commands/#'), true);
    assert.equal(maySubscribe(device('dev-1'), 'sensors/+/dev-2/commands'), false);
    assert.equal(maySubscribe(device('dev-1'), 'sensors/+/+/commands'), false);
    assert.equal(maySubscribe(device('dev-1'), 'sensors/+/+/telemetry'), false);
    assert.equal(maySubscribe(gateway, 'sensors/+/+/commands/#'), true);
    assert.equal(maySubscribe(gateway, 'sensors/+/+/telemetry'), false);
    assert.equal(maySubscribe(gateway, 'sensors/#'), false);
    assert.equal(maySubscribe(commander, 'sensors/+/+/commands/#'), false);
  });

  test('a device\'s user name is one topic level', () => {
    assert.equal(deviceNameProblem('dev-001'), undefined);
    for (const name of ['', 'a/b', '+', '#', 'dev+1', '$dev']) assert.notEqual(deviceNameProblem(name), undefined, name);
  });
});

describe('dev broker users', () => {
  const users = parseUsers('users.yaml', 'users:\n  - { username: monitor, password: s3cret, role: monitor }\n  - { username: dev-1, password: d3v, role: device }\n');

  test('checks the password; a client without a user name is refused', () => {
    assert.deepEqual(authenticate(users, 'monitor', Buffer.from('s3cret')), { username: 'monitor', role: 'monitor' });
    assert.deepEqual(authenticate(users, 'dev-1', Buffer.from('d3v')), { username: 'dev-1', role: 'device' });
    assert.equal(authenticate(users, 'monitor', Buffer.from('wrong!')), undefined);
    assert.equal(authenticate(users, 'monitor', undefined), undefined);
    assert.equal(authenticate(users, 'nobody', Buffer.from('x')), undefined);
    assert.equal(authenticate(users, undefined, undefined), undefined);
    assert.equal(authenticate(parseUsers('u.yaml', 'users: []'), undefined, undefined), undefined, 'no anonymous devices, even with no users');
  });

  test('a malformed users file names the file and the entry', () => {
    assert.throws(() => parseUsers('u.yaml', 'users:\n  - { username: x, role: admin }\n'), /^Error: u\.yaml: users\[0\] must have a username, a password and a role \(monitor, device, gateway, commander\)$/);
    assert.throws(() => parseUsers('u.yaml', 'users:\n  - { username: a/b, password: x, role: device }\n'), /^Error: u\.yaml: users\[0\]: the device user name "a\/b" contains/);
    assert.throws(() => parseUsers('u.yaml', 'users:\n  - { username: a, password: x, role: device }\n  - { username: a, password: y, role: gateway }\n'), /users\[1\]: "a" is listed twice/);
    assert.throws(() => parseUsers('u.yaml', 'allow_anonymous_devices: true\nusers: []\n'), /allow_anonymous_devices: true is no longer supported/);
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

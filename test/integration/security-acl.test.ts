/**
 * Least privilege on real Mosquitto 2 with the ACL this repository ships
 * (broker/mosquitto/acl), users from a password file made by mosquitto_passwd,
 * and the ingestor storing into real InfluxDB 1.x:
 * - anonymous clients and bad passwords are refused;
 * - a device publishes only under its own name: a forged message (another
 *   device's topic, or another device's client id) is refused, reaches no
 *   subscriber, and leaves nothing in InfluxDB;
 * - a device reads only its own command topics;
 * - the ingestor's user reads telemetry and presence and publishes nothing;
 * - a replayed reading overwrites itself instead of adding a point.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { makeSecret, mosquittoAuthConfig, tryConnect, writePasswordFile } from '../harness/auth.ts';
import { startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';

const PASSWORDS = {
  monitor: makeSecret('monitor'),
  'dev-a': makeSecret('dev-a'),
  'dev-b': makeSecret('dev-b'),
  commander: makeSecret('commander'),
  gateway: makeSecret('gateway'),
} as const;
type User = keyof typeof PASSWORDS;

const NOT_AUTHORIZED = 135;

interface Received {
  readonly messages: string[];
}

function record(client: MqttClient): Received {
  const received: Received = { messages: [] };
  client.on('message', (topic, payload) => received.messages.push(`${topic} ${payload.toString()}`));
  return received;
}

describe('least privilege on Mosquitto with the shipped ACL (broker/mosquitto/acl)', () => {
  let dir: string;
  let broker: Mosquitto;
  let influx: Influx1;
  let ingestor: Ingestor;
  const clients: MqttClient[] = [];

  async function connectAs(user: User, clientId: string, protocolVersion: 4 | 5 = 5): Promise<MqttClient> {
    const client = await tryConnect(broker.url, { username: user, password: PASSWORDS[user], clientId, protocolVersion });
    if (client instanceof Error) throw new Error(`${user} could not connect: ${client.message}`);
    clients.push(client);
    return client;
  }

  /**
   * Publishes once (QoS 1) from a fresh connection as `user` with `clientId`;
   * resolves with the PUBACK reason code (0 = accepted; MQTT 3.1.1 always
   * says 0) and whether the broker then closed the connection.
   */
  async function publishOnce(user: User, topic: string, payload: string, options: { clientId?: string; protocolVersion?: 4 | 5; retain?: boolean } = {}): Promise<{ code: number; closed: boolean }> {
    const client = await connectAs(user, options.clientId ?? `${user}-probe-${Math.random().toString(16).slice(2, 8)}`, options.protocolVersion);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    let code = 0;
    try {
      await Promise.race([client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false }), closed.then(() => Promise.reject(new Error('closed before PUBACK')))]);
    } catch (error) {
      code = (error as { code?: number }).code ?? -1;
    }
    // Mosquitto 2.0 disconnects a client right after refusing its publish; give it a moment to do so.
    const wasClosed = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000))]);
    await client.endAsync(true);
    return { code, closed: wasClosed };
  }

  const publishCode = async (user: User, topic: string, payload: string): Promise<number> => (await publishOnce(user, topic, payload)).code;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-acl-'));
    const passwordFile = writePasswordFile(dir, PASSWORDS);
    [broker, influx] = await Promise.all([startMosquitto({ extraConfig: mosquittoAuthConfig(passwordFile) }), startInflux1()]);
    await influx.query('CREATE DATABASE iot');
    ingestor = startIngestor({
      MQTT_URL: broker.url,
      MQTT_USERNAME: 'monitor',
      MQTT_PASSWORD: PASSWORDS.monitor,
      INFLUX_URL: influx.url,
      INFLUX_API: 'v1',
      INFLUX_BUCKET: 'iot',
      FLUSH_INTERVAL_MS: '100',
      // One write at a time, in log order: once a later message is stored, every earlier one is.
      WRITE_CONCURRENCY: '1',
    });
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await ingestor.stop();
    ingestor.cleanup();
    await Promise.all([broker.stop(), influx.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('anonymous clients, unknown users and wrong passwords are refused at connect (CONNACK 135)', async () => {
    for (const options of [{}, { username: 'dev-a', password: 'wrong' }, { username: 'nobody', password: PASSWORDS['dev-a'] }]) {
      const result = await tryConnect(broker.url, { clientId: 'dev-a', ...options });
      assert.ok(result instanceof Error, `refused: ${JSON.stringify(options)}`);
      assert.equal(result.code, NOT_AUTHORIZED, result.message);
    }
  });

  test('a device cannot publish as another: refused (MQTT 5) or dropped (3.1.1), delivered to no one, nothing stored', async () => {
    const baseMs = Date.now() - 60_000;
    const watcher = await connectAs('monitor', 'watcher');
    const seen = record(watcher);
    await watcher.subscribeAsync('sensors/#', { qos: 1 });

    const devA = await connectAs('dev-a', 'dev-a');
    await devA.publishAsync('sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 21.5, ts: baseMs }), { qos: 1 });

    // Another device's topic, over MQTT 5: PUBACK "not authorized", and Mosquitto closes the connection.
    assert.deepEqual(await publishOnce('dev-a', 'sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 99.9, ts: baseMs + 1 }), { clientId: 'dev-a-2' }), { code: NOT_AUTHORIZED, closed: true });
    // Over MQTT 3.1.1, which cannot say no: acknowledged, dropped, disconnected.
    assert.deepEqual(await publishOnce('dev-a', 'sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 99.8, ts: baseMs + 2 }), { protocolVersion: 4 }), { code: 0, closed: true });
    // Another device's client id: the identity is the user name, so choosing dev-b's client id grants nothing.
    assert.deepEqual(await publishOnce('dev-a', 'sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 88.8, ts: baseMs + 3 }), { clientId: 'dev-b' }), { code: NOT_AUTHORIZED, closed: true });
    assert.deepEqual(await publishOnce('dev-a', 'sensors/lab/dev-b/status', 'offline', { clientId: 'dev-b', retain: true }), { code: NOT_AUTHORIZED, closed: true });
    // Its own topic: accepted, connection kept.
    assert.deepEqual(await publishOnce('dev-a', 'sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 21.6, ts: baseMs + 4 }), { clientId: 'dev-a-3' }), { code: 0, closed: false });

    // dev-b's own reading, sent after the forgeries: once it is stored, they would have been too.
    const devB = await connectAs('dev-b', 'dev-b-real');
    await devB.publishAsync('sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 19.5, ts: baseMs + 5 }), { qos: 1 });
    const rows = await waitFor('dev-b\'s genuine reading in InfluxDB', async () => {
      const stored = await influx.query('SELECT device, location, temperature FROM telemetry', 'iot');
      return stored.some((row) => row.device === 'dev-b') ? stored : undefined;
    });
    assert.deepEqual(rows, [
      { time: baseMs, device: 'dev-a', location: 'lab', temperature: 21.5 },
      { time: baseMs + 4, device: 'dev-a', location: 'lab', temperature: 21.6 },
      { time: baseMs + 5, device: 'dev-b', location: 'lab', temperature: 19.5 },
    ]);
    assert.deepEqual(await influx.query('SELECT * FROM device_presence', 'iot'), [], 'the forged "offline" is not stored');
    await waitFor('dev-b\'s reading at the watcher', () => (seen.messages.some((m) => m.startsWith('sensors/lab/dev-b/')) ? true : undefined));
    assert.deepEqual(seen.messages, [
      `sensors/lab/dev-a/telemetry ${JSON.stringify({ temperature: 21.5, ts: baseMs })}`,
      `sensors/lab/dev-a/telemetry ${JSON.stringify({ temperature: 21.6, ts: baseMs + 4 })}`,
      `sensors/lab/dev-b/telemetry ${JSON.stringify({ temperature: 19.5, ts: baseMs + 5 })}`,
    ]);
  });

  test('a device reads only its own command topics, whatever it subscribes to; commands come only from the commander', async () => {
    const devA = await connectAs('dev-a', 'dev-a-reader');
    const devB = await connectAs('dev-b', 'dev-b-reader');
    const gotA = record(devA);
    const gotB = record(devB);
    // Mosquitto 2.0 grants any subscription and filters each message by the ACL on delivery.
    await devA.subscribeAsync({ '#': { qos: 1 }, 'sensors/#': { qos: 1 }, 'sensors/+/dev-b/commands': { qos: 1 } });
    await devB.subscribeAsync({ 'sensors/+/dev-b/#': { qos: 1 } });

    const commander = await connectAs('commander', 'commander');
    await devB.publishAsync('sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 19.6 }), { qos: 1 });
    for (const [topic, payload] of [
      ['sensors/lab/dev-a/commands', 'reboot-a'],
      ['sensors/lab/dev-b/commands', 'reboot-b'],
      ['sensors/lab/dev-b/commands/ota', 'ota-b'],
      ['sensors/lab/dev-a/commands', 'last'],
    ] as const) {
      await commander.publishAsync(topic, payload, { qos: 1 });
    }
    await waitFor('the last command at dev-a', () => (gotA.messages.includes('sensors/lab/dev-a/commands last') ? true : undefined));
    await waitFor('both commands at dev-b', () => (gotB.messages.length === 2 ? true : undefined));
    // Overlapping subscriptions each get their copy (MQTT 5): compare what arrived, not how often.
    assert.deepEqual([...new Set(gotA.messages)], ['sensors/lab/dev-a/commands reboot-a', 'sensors/lab/dev-a/commands last']);
    assert.deepEqual(gotB.messages, ['sensors/lab/dev-b/commands reboot-b', 'sensors/lab/dev-b/commands/ota ota-b']);

    assert.equal(await publishCode('dev-a', 'sensors/lab/dev-b/commands', 'reboot-b'), NOT_AUTHORIZED, 'a device commands no other device');
    assert.equal(await publishCode('commander', 'sensors/lab/dev-a/telemetry', '{"temperature":1}'), NOT_AUTHORIZED, 'the commander cannot pose as a device');
    assert.equal(await publishCode('commander', 'sensors/lab/commander/telemetry', '{"temperature":1}'), NOT_AUTHORIZED, 'nor as a device named after itself');
  });

  test('the ingestor\'s user reads telemetry and presence, and publishes nothing', async () => {
    const devA = await connectAs('dev-a', 'dev-a-status');
    await devA.publishAsync('sensors/lab/dev-a/status', 'online', { qos: 1, retain: true });
    const presence = await waitFor('dev-a\'s presence in InfluxDB', async () => {
      const rows = await influx.query('SELECT device, location, online, source FROM device_presence', 'iot');
      return rows.length > 0 ? rows : undefined;
    });
    assert.deepEqual(presence.map(({ time: _time, ...row }) => row), [{ device: 'dev-a', location: 'lab', online: 1, source: 'lwt' }]);

    for (const topic of ['sensors/lab/dev-a/telemetry', 'sensors/lab/monitor/telemetry', 'sensors/lab/dev-a/commands', 'sensors/lab/dev-a/status', 'anything/else']) {
      assert.equal(await publishCode('monitor', topic, '{"temperature":1}'), NOT_AUTHORIZED, `monitor may not publish to ${topic}`);
    }
  });

  test('the gateway publishes for any device and reads commands only, whatever it subscribes to', async () => {
    const tsMs = Date.now() - 40_000;
    // One connection per device it speaks for, client id = device id, as the simulator does.
    for (const id of ['dev-g1', 'dev-g2']) {
      assert.deepEqual(await publishOnce('gateway', `sensors/yard/${id}/telemetry`, JSON.stringify({ temperature: 4.5, ts: tsMs }), { clientId: id }), { code: 0, closed: false });
    }
    const rows = await waitFor('the gateway\'s readings', async () => {
      const stored = await influx.query('SELECT device, temperature FROM telemetry WHERE location = \'yard\'', 'iot');
      return stored.length === 2 ? stored : undefined;
    });
    assert.deepEqual(rows.map((row) => row.device).sort(), ['dev-g1', 'dev-g2']);

    const gateway = await connectAs('gateway', 'dev-g1-reader');
    const got = record(gateway);
    await gateway.subscribeAsync({ 'sensors/#': { qos: 1 }, '$SYS/#': { qos: 1 } });
    const devA = await connectAs('dev-a', 'dev-a-for-gateway');
    await devA.publishAsync('sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 20.5 }), { qos: 1 });
    const commander = await connectAs('commander', 'commander-for-gateway');
    await commander.publishAsync('sensors/yard/dev-g1/commands', 'reboot', { qos: 1 });
    await waitFor('the command at the gateway', () => (got.messages.length > 0 ? true : undefined));
    assert.deepEqual(got.messages, ['sensors/yard/dev-g1/commands reboot'], 'no telemetry, no $SYS');
    assert.equal(await publishCode('gateway', '$SYS/broker/x', '1'), NOT_AUTHORIZED);
    assert.equal(await publishCode('gateway', 'elsewhere/dev-g1/telemetry', '{"temperature":1}'), NOT_AUTHORIZED);
  });

  test('a replayed reading overwrites itself: one point, unchanged', async () => {
    const tsMs = Date.now() - 30_000;
    const devA = await connectAs('dev-a', 'dev-a-replay');
    const reading = JSON.stringify({ temperature: 23.25, ts: tsMs });
    for (let i = 0; i < 3; i += 1) await devA.publishAsync('sensors/lab/dev-a/telemetry', reading, { qos: 1 });
    await devA.publishAsync('sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 23.5, ts: tsMs + 1 }), { qos: 1 });
    const rows = await waitFor('the reading after the replays', async () => {
      const stored = await influx.query(`SELECT device, temperature FROM telemetry WHERE time >= ${tsMs}ms AND time <= ${tsMs + 1}ms`, 'iot');
      return stored.some((row) => row.time === tsMs + 1) ? stored : undefined;
    });
    assert.deepEqual(rows, [
      { time: tsMs, device: 'dev-a', temperature: 23.25 },
      { time: tsMs + 1, device: 'dev-a', temperature: 23.5 },
    ]);
  });
});

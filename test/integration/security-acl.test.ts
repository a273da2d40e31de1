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
import { freePort } from '../harness/ports.ts';
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
const INGESTOR_CLIENT_ID = 'sensorflow-ingestor';

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
  /** The listener for the ingestor and gateways, where a client keeps the client id it sends. */
  let servicePort: number;
  let serviceUrl: string;
  const clients: MqttClient[] = [];

  async function connectAs(user: User, clientId: string, protocolVersion: 4 | 5 = 5, url = broker.url): Promise<MqttClient> {
    const client = await tryConnect(url, { username: user, password: PASSWORDS[user], clientId, protocolVersion });
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
    servicePort = await freePort();
    // As broker/mosquitto/mosquitto.conf: devices on a listener where a client's id is its user name,
    // the ingestor and gateways on another (the harness's listener line comes first, so the option
    // right after the auth lines is the devices' listener's).
    const listeners = ['use_username_as_clientid true', `listener ${servicePort} 127.0.0.1`];
    [broker, influx] = await Promise.all([startMosquitto({ extraConfig: [...mosquittoAuthConfig(passwordFile), ...listeners] }), startInflux1()]);
    serviceUrl = `mqtt://127.0.0.1:${servicePort}`;
    await influx.query('CREATE DATABASE iot');
    ingestor = startIngestor({
      MQTT_URL: serviceUrl,
      MQTT_CLIENT_ID: INGESTOR_CLIENT_ID,
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

  test('a device that sends another client\'s id (the ingestor\'s, another device\'s) takes over nothing: on the devices\' listener its client id is its user name', async () => {
    const connectedLines = (): number => ingestor.process.log().split('\n').filter((line) => line.includes('"msg":"connected to the MQTT broker"')).length;
    assert.equal(connectedLines(), 1);
    const devB = await connectAs('dev-b', 'dev-b');
    const devBClosed = new Promise<string>((resolve) => devB.once('close', () => resolve('closed')));
    // dev-a poses as the ingestor, then as dev-b, each with a persistent session.
    for (const clientId of [INGESTOR_CLIENT_ID, 'dev-b']) {
      const poser = await tryConnect(broker.url, { username: 'dev-a', password: PASSWORDS['dev-a'], clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
      if (poser instanceof Error) throw poser;
      clients.push(poser);
      assert.equal(poser.connected, true);
    }
    // Were either session taken over, the victim's connection would be closed; a reading from
    // dev-b stored afterwards shows both the ingestor and dev-b still connected, still subscribed.
    const reading = JSON.stringify({ temperature: 23.5, ts: Date.now() - 1_000 });
    const published = devB.publishAsync('sensors/lab/dev-b/telemetry', reading, { qos: 1 }).then(() => 'published');
    assert.equal(await Promise.race([published, devBClosed]), 'published', 'dev-b kept its connection');
    await waitFor('dev-b\'s reading stored', async () => ((await influx.query("SELECT temperature FROM telemetry WHERE device = 'dev-b' AND temperature = 23.5", 'iot')).length === 1 ? true : undefined));
    assert.equal(await Promise.race([devBClosed, Promise.resolve('open')]), 'open', 'dev-b kept its connection');
    assert.equal(connectedLines(), 1, 'the ingestor was never thrown off (it would have logged a new connection)');

    // The control: on the ingestor's listener a client keeps the id it sends, so the same move
    // takes a session over. That is why devices must never reach that listener.
    const victim = await connectAs('gateway', 'gw-victim', 5, serviceUrl);
    const victimClosed = new Promise<string>((resolve) => victim.once('close', () => resolve('closed')));
    await connectAs('dev-a', 'gw-victim', 5, serviceUrl);
    assert.equal(await victimClosed, 'closed', 'taken over on the listener without use_username_as_clientid');
    victim.end(true);
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

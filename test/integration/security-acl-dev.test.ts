/**
 * Least privilege on the real development broker process (`npm run broker`,
 * broker/dev/main.ts: the same rules as the compose stack's EMQX acl.conf),
 * with the ingestor storing into real InfluxDB 1.x. The identity is the user
 * name, never the client id:
 * - clients without a user name, unknown users and wrong passwords are refused;
 * - a device publishes only under its own user name: a forged message (another
 *   device's topic, with or without that device's client id) is refused,
 *   reaches no subscriber, and leaves nothing in InfluxDB;
 * - choosing another client's id takes over nothing: a device's client id is
 *   its user name (EMQX: use_username_as_clientid on the devices' listener);
 * - a device reads only its own command topics; the commander only commands;
 * - the gateway publishes for any device and reads no telemetry;
 * - the ingestor's user reads telemetry and presence and publishes nothing.
 *
 * The development broker speaks MQTT 3.1.1 only (aedes): a refused publish is
 * not acknowledged and the connection is closed; a refused subscription
 * closes the connection too, as EMQX does with deny_action = disconnect
 * (test/integration/security-subscribe.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { makeSecret, tryConnect } from '../harness/auth.ts';
import { startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { DEV_BROKER_GATEWAY, DEV_BROKER_MONITOR, startDevBroker, startInflux1, type DevBroker, type Influx1 } from '../harness/services.ts';

const DEVICES = { 'dev-a': makeSecret('dev-a'), 'dev-b': makeSecret('dev-b') } as const;
const COMMANDER = { username: 'commander', password: makeSecret('commander') } as const;
const INGESTOR_CLIENT_ID = 'sensorflow-ingestor';
const BAD_USERNAME_OR_PASSWORD = 4;
const DISCONNECTED = 'disconnected';

type Credentials = { readonly username: string; readonly password: string };
const device = (name: keyof typeof DEVICES): Credentials => ({ username: name, password: DEVICES[name] });

/** The QoS the broker granted each filter (128 refused), or 'disconnected' when it closed the connection instead of answering. */
async function grants(client: MqttClient, filter: string): Promise<number[] | typeof DISCONNECTED> {
  const closed = new Promise<typeof DISCONNECTED>((resolve) => client.once('close', () => resolve(DISCONNECTED)));
  const answered = client.subscribeAsync(filter, { qos: 1 }).then<number[] | typeof DISCONNECTED, number[] | typeof DISCONNECTED>(
    (granted) => granted.map((grant) => grant.qos),
    (error: { packet?: { granted?: number[] } }) => error.packet?.granted ?? closed,
  );
  return Promise.race([answered, closed]);
}

function record(client: MqttClient): string[] {
  const received: string[] = [];
  client.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
  return received;
}

describe('least privilege on the development broker (broker/dev/acl.ts, the rules of broker/emqx/acl.conf)', () => {
  let broker: DevBroker;
  let influx: Influx1;
  let ingestor: Ingestor;
  let watcher: MqttClient;
  /** Everything on sensors/# and the presence events, as the monitor sees them. */
  let seen: string[];
  const clients: MqttClient[] = [];

  async function connectAs(credentials: Credentials, clientId: string): Promise<MqttClient> {
    const client = await tryConnect(broker.url, { ...credentials, clientId, protocolVersion: 4 });
    if (client instanceof Error) throw new Error(`${credentials.username} could not connect: ${client.message}`);
    clients.push(client);
    return client;
  }

  /** Publishes once (QoS 1) from a fresh connection; whether the broker acknowledged it, and whether it then closed the connection. */
  async function publishOnce(credentials: Credentials, topic: string, payload: string, options: { clientId?: string; retain?: boolean } = {}): Promise<{ acked: boolean; closed: boolean }> {
    const client = await connectAs(credentials, options.clientId ?? `${credentials.username}-probe-${Math.random().toString(16).slice(2, 8)}`);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const acked = await Promise.race([
      client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false }).then(() => true, () => false),
      closed.then(() => false),
    ]);
    const wasClosed = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000))]);
    await client.endAsync(true);
    return { acked, closed: wasClosed };
  }

  const REFUSED = { acked: false, closed: true };
  const ACCEPTED = { acked: true, closed: false };

  before(async () => {
    [broker, influx] = await Promise.all([
      startDevBroker([
        { ...device('dev-a'), role: 'device' },
        { ...device('dev-b'), role: 'device' },
        { ...COMMANDER, role: 'commander' },
      ]),
      startInflux1(),
    ]);
    await influx.query('CREATE DATABASE iot');
    ingestor = startIngestor({
      MQTT_URL: broker.url,
      MQTT_USERNAME: DEV_BROKER_MONITOR.username,
      MQTT_PASSWORD: DEV_BROKER_MONITOR.password,
      MQTT_CLIENT_ID: INGESTOR_CLIENT_ID,
      // The development broker speaks 3.1.1 only; no fallback reconnect at start.
      MQTT_PROTOCOL_VERSION: '4',
      PRESENCE_EMQX: 'true',
      INFLUX_URL: influx.url,
      INFLUX_API: 'v1',
      INFLUX_BUCKET: 'iot',
      FLUSH_INTERVAL_MS: '100',
      // One write at a time, in log order: once a later message is stored, every earlier one is.
      WRITE_CONCURRENCY: '1',
    });
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status', '$SYS/brokers/+/clients/+/connected']);
    watcher = await connectAs(DEV_BROKER_MONITOR, 'acl-watcher');
    seen = record(watcher);
    await watcher.subscribeAsync(['sensors/#', '$SYS/brokers/+/clients/#'], { qos: 1 });
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await ingestor.stop();
    ingestor.cleanup();
    await Promise.all([broker.stop(), influx.stop()]);
  });

  test('no user name, an unknown user or a wrong password: refused at connect (CONNACK 4)', async () => {
    for (const options of [{}, { username: 'dev-a', password: 'wrong' }, { username: 'nobody', password: DEVICES['dev-a'] }, { username: 'dev-a' }]) {
      const result = await tryConnect(broker.url, { clientId: 'dev-a', protocolVersion: 4, ...options });
      assert.ok(result instanceof Error, `refused: ${JSON.stringify(options)}`);
      assert.equal(result.code, BAD_USERNAME_OR_PASSWORD, result.message);
    }
  });

  test('a device cannot publish as another, with or without its client id: refused, delivered to no one, nothing stored', async () => {
    const baseMs = Date.now() - 60_000;
    assert.deepEqual(await publishOnce(device('dev-a'), 'sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 21.5, ts: baseMs })), ACCEPTED);
    // Another device's topic.
    assert.deepEqual(await publishOnce(device('dev-a'), 'sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 99.9, ts: baseMs + 1 })), REFUSED);
    // ... with that device's client id: the identity is the user name, so it grants nothing.
    assert.deepEqual(await publishOnce(device('dev-a'), 'sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 88.8, ts: baseMs + 2 }), { clientId: 'dev-b' }), REFUSED);
    // A forged retained "offline" for dev-b.
    assert.deepEqual(await publishOnce(device('dev-a'), 'sensors/lab/dev-b/status', 'offline', { clientId: 'dev-b', retain: true }), REFUSED);
    // Broker topics and anything outside sensors/.
    assert.deepEqual(await publishOnce(device('dev-a'), '$SYS/brokers/sensorflow-test@127.0.0.1/clients/dev-b/disconnected', '{}'), REFUSED);
    assert.deepEqual(await publishOnce(device('dev-a'), 'dev-a/telemetry', '{"temperature":1}'), REFUSED);
    // Its own topic still works afterwards.
    assert.deepEqual(await publishOnce(device('dev-a'), 'sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 21.6, ts: baseMs + 4 })), ACCEPTED);

    // dev-b's own reading, sent after the forgeries: once it is stored, they would have been too.
    assert.deepEqual(await publishOnce(device('dev-b'), 'sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 19.5, ts: baseMs + 5 })), ACCEPTED);
    const rows = await waitFor('dev-b\'s genuine reading in InfluxDB', async () => {
      const stored = await influx.query('SELECT device, location, temperature FROM telemetry', 'iot');
      return stored.some((row) => row.device === 'dev-b') ? stored : undefined;
    });
    assert.deepEqual(rows, [
      { time: baseMs, device: 'dev-a', location: 'lab', temperature: 21.5 },
      { time: baseMs + 4, device: 'dev-a', location: 'lab', temperature: 21.6 },
      { time: baseMs + 5, device: 'dev-b', location: 'lab', temperature: 19.5 },
    ]);
    assert.deepEqual(await influx.query('SELECT * FROM device_presence WHERE source = \'lwt\'', 'iot'), [], 'the forged "offline" is not stored');
    await waitFor('dev-b\'s reading at the watcher', () => (seen.some((m) => m.startsWith('sensors/lab/dev-b/')) ? true : undefined));
    assert.deepEqual(seen.filter((m) => m.startsWith('sensors/')), [
      `sensors/lab/dev-a/telemetry ${JSON.stringify({ temperature: 21.5, ts: baseMs })}`,
      `sensors/lab/dev-a/telemetry ${JSON.stringify({ temperature: 21.6, ts: baseMs + 4 })}`,
      `sensors/lab/dev-b/telemetry ${JSON.stringify({ temperature: 19.5, ts: baseMs + 5 })}`,
    ]);
  });

  test('a device that picks another client\'s id (a device\'s, the ingestor\'s) takes over nothing: its client id is its user name', async () => {
    const connectedIds = (): string[] => seen.filter((m) => m.startsWith('$SYS/') && m.split(' ')[0]!.endsWith('/connected')).map((m) => (JSON.parse(m.slice(m.indexOf(' ') + 1)) as { clientid: string }).clientid);
    const earlier = connectedIds().length;
    const devB = await connectAs(device('dev-b'), 'dev-b');
    let devBClosed = false;
    devB.on('close', () => { devBClosed = true; });
    await waitFor('dev-b\'s own presence event', () => (connectedIds().slice(earlier).includes('dev-b') ? true : undefined));
    const before = connectedIds().length;
    for (const chosen of ['dev-b', INGESTOR_CLIENT_ID]) await connectAs(device('dev-a'), chosen);
    const ids = await waitFor('the two presence events', () => (connectedIds().length >= before + 2 ? connectedIds().slice(before) : undefined));
    assert.deepEqual(ids, ['dev-a', 'dev-a'], 'the broker knows both connections as dev-a');
    // Had a takeover happened, the broker would have closed the old connection at once.
    const ingestorLeft = (): boolean => seen.some((m) => m.startsWith(`$SYS/brokers/${broker.node}/clients/${INGESTOR_CLIENT_ID}/disconnected`));
    assert.equal(devBClosed, false, 'dev-b is still connected');
    assert.equal(ingestorLeft(), false, 'the ingestor is still connected');
    assert.deepEqual(await publishOnce(device('dev-b'), 'sensors/lab/dev-b/telemetry', JSON.stringify({ temperature: 19.75 })), ACCEPTED);
    assert.equal(ingestor.logLines().filter((line) => line.msg === 'connected to the MQTT broker').length, 1, 'the ingestor never lost its connection');
  });

  test('a device reads only its own command topics; commands come only from the commander', async () => {
    for (const filter of ['#', 'sensors/#', 'sensors/+/dev-b/commands', 'sensors/+/+/commands', 'sensors/+/dev-a/telemetry', '$SYS/#']) {
      assert.equal(await grants(await connectAs(device('dev-a'), 'dev-a-prober'), filter), DISCONNECTED, `dev-a may not subscribe to ${filter}`);
    }
    const devA = await connectAs(device('dev-a'), 'dev-a-reader');
    const gotA = record(devA);
    assert.deepEqual(await grants(devA, 'sensors/+/dev-a/commands/#'), [1]);

    const commander = await connectAs(COMMANDER, 'commander');
    for (const [topic, payload] of [['sensors/lab/dev-b/commands', 'reboot-b'], ['sensors/lab/dev-a/commands', 'reboot-a'], ['sensors/lab/dev-a/commands/ota', 'last']] as const) {
      await commander.publishAsync(topic, payload, { qos: 1 });
    }
    await waitFor('the last command at dev-a', () => (gotA.includes('sensors/lab/dev-a/commands/ota last') ? true : undefined));
    assert.deepEqual(gotA, ['sensors/lab/dev-a/commands reboot-a', 'sensors/lab/dev-a/commands/ota last']);

    assert.deepEqual(await publishOnce(device('dev-a'), 'sensors/lab/dev-b/commands', 'reboot-b'), REFUSED, 'a device commands no other device');
    assert.deepEqual(await publishOnce(COMMANDER, 'sensors/lab/dev-a/telemetry', '{"temperature":1}'), REFUSED, 'the commander cannot pose as a device');
    assert.deepEqual(await publishOnce(COMMANDER, 'sensors/lab/commander/telemetry', '{"temperature":1}'), REFUSED, 'nor as a device named after itself');
    const subscriber = await connectAs(COMMANDER, 'commander-reader');
    assert.equal(await grants(subscriber, 'sensors/#'), DISCONNECTED, 'the commander reads nothing');
  });

  test('the gateway publishes for any device and reads their commands, but no telemetry', async () => {
    const tsMs = Date.now() - 45_000;
    for (const id of ['dev-x1', 'dev-x2']) {
      assert.deepEqual(await publishOnce(DEV_BROKER_GATEWAY, `sensors/yard/${id}/telemetry`, JSON.stringify({ temperature: 5.5, ts: tsMs }), { clientId: id }), ACCEPTED);
    }
    const rows = await waitFor('the gateway\'s readings', async () => {
      const stored = await influx.query(`SELECT device, location, temperature FROM telemetry WHERE location = 'yard'`, 'iot');
      return stored.length === 2 ? stored : undefined;
    });
    assert.deepEqual(rows.map((row) => row.device).sort(), ['dev-x1', 'dev-x2']);
    const gateway = await connectAs(DEV_BROKER_GATEWAY, 'dev-x1');
    assert.deepEqual(await grants(gateway, 'sensors/+/+/commands/#'), [1]);
    for (const filter of ['sensors/#', 'sensors/+/+/telemetry', '$SYS/#']) {
      assert.equal(await grants(await connectAs(DEV_BROKER_GATEWAY, 'dev-x1-prober'), filter), DISCONNECTED, `the gateway may not subscribe to ${filter}`);
    }
    assert.deepEqual(await publishOnce(DEV_BROKER_GATEWAY, 'elsewhere/dev-x1/telemetry', '{"temperature":1}'), REFUSED);
    assert.deepEqual(await publishOnce(DEV_BROKER_GATEWAY, '$SYS/brokers/x/clients/dev-x1/connected', '{}'), REFUSED);
  });

  test('the ingestor\'s user reads telemetry and presence, and publishes nothing (nothing of it stored)', async () => {
    for (const topic of ['sensors/lab/dev-a/telemetry', 'sensors/lab/monitor/telemetry', 'sensors/lab/dev-a/commands', 'sensors/lab/dev-a/status']) {
      assert.deepEqual(await publishOnce(DEV_BROKER_MONITOR, topic, JSON.stringify({ temperature: 77.7 })), REFUSED, `monitor may not publish to ${topic}`);
    }
    // A genuine reading after the refused ones: once it is stored, they would have been too.
    assert.deepEqual(await publishOnce(device('dev-a'), 'sensors/lab/dev-a/telemetry', JSON.stringify({ temperature: 22.25 })), ACCEPTED);
    await waitFor('dev-a\'s last reading', async () => ((await influx.query('SELECT temperature FROM telemetry WHERE temperature = 22.25', 'iot')).length === 1 ? true : undefined));
    assert.deepEqual(await influx.query('SELECT temperature FROM telemetry WHERE temperature = 77.7 OR temperature = 99.9 OR temperature = 88.8', 'iot'), []);
    assert.deepEqual(await influx.query('SELECT device FROM telemetry WHERE device = \'monitor\'', 'iot'), []);
  });
});

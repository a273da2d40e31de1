/**
 * Device presence through real brokers into real InfluxDB 1.x:
 * - the development broker (EMQX 5 presence events): clean closes, cut-off
 *   sockets, keepalive expiry and takeovers;
 * - Mosquitto: birth messages and last wills on status topics.
 * The final `device_presence` state of every device is checked: online flag,
 * reason, location and group.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { REPO_ROOT, startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { DEV_BROKER_MONITOR, startDevBroker, startInflux1, startMosquitto, type Influx1 } from '../harness/services.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const ids = Array.from({ length: 20 }, (_, i) => `dev-${String(i + 1).padStart(2, '0')}`);
const locationOf = (id: string): string => `site-${Number(id.slice(4)) % 4}`;
/** The first five are in the registry, with a location of their own and a group. */
const REGISTERED = new Set(ids.slice(0, 5));
const REGISTRY = `devices:\n${ids.slice(0, 5).map((id) => `  ${id}: { location: registry-site, group: g-registered }`).join('\n')}\n`;

interface FinalState {
  readonly online: number;
  readonly event: string;
  readonly reason: string;
  readonly location: string;
  readonly group: string;
  readonly source: string;
}

/** The newest device_presence point of every device. */
async function finalStates(influx: Influx1, db: string): Promise<Map<string, FinalState>> {
  const rows = await influx.query('SELECT * FROM device_presence', db);
  const latest = new Map<string, FinalState & { time: number }>();
  for (const row of rows) {
    const device = row.device as string;
    const time = row.time as number;
    const previous = latest.get(device);
    if (previous === undefined || time >= previous.time) {
      latest.set(device, {
        time, online: row.online as number, event: row.event as string, reason: row.reason as string,
        location: row.location as string, group: row.group as string, source: row.source as string,
      });
    }
  }
  return new Map([...latest].map(([device, { time: _time, ...state }]) => [device, state]));
}

function expectedPlace(id: string): { location: string; group: string } {
  return REGISTERED.has(id) ? { location: 'registry-site', group: 'g-registered' } : { location: locationOf(id), group: 'unknown' };
}

/** A client that connects with a keepalive of 1 s and then never speaks again. */
function silentClient(port: number, clientId: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => {
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 1 }));
      resolve(() => socket.destroy());
    });
    socket.on('data', () => {});
    socket.on('error', reject);
  });
}

describe('device presence', () => {
  let influx: Influx1;
  let dir: string;
  before(async () => {
    influx = await startInflux1();
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-presence-'));
    writeFileSync(join(dir, 'devices.yaml'), REGISTRY);
  });
  after(async () => {
    await influx.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('EMQX events from the development broker: clean closes, cut-offs, keepalive expiry, takeovers; no takeover reads as offline', async () => {
    const broker = await startDevBroker();
    await influx.query('CREATE DATABASE emqx');
    const ingestor: Ingestor = startIngestor({
      MQTT_URL: broker.url, MQTT_USERNAME: DEV_BROKER_MONITOR.username, MQTT_PASSWORD: DEV_BROKER_MONITOR.password,
      PRESENCE_EMQX: 'true', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'emqx', FLUSH_INTERVAL_MS: '100',
      DEVICES_FILE: join(dir, 'devices.yaml'), DEVICE_DIRECTORY_FILE: join(dir, 'learned-emqx.json'),
    });
    const clients: MqttClient[] = [];
    const connect = async (id: string): Promise<MqttClient> => {
      const client = await mqtt.connectAsync(broker.url, { clientId: id, reconnectPeriod: 0, keepalive: 60 });
      clients.push(client);
      return client;
    };
    try {
      await waitUntilSubscribed(ingestor, ['$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/+/disconnected', 'sensors/+/+/telemetry']);
      // Phase 1: every device reports once, so the ingestor learns where it is.
      for (const id of ids) {
        const client = await connect(id);
        await client.publishAsync(`sensors/${locationOf(id)}/${id}/telemetry`, JSON.stringify({ temperature: 20 }), { qos: 1 });
        await client.endAsync();
      }
      await sleep(300);
      // Phase 2: all connect again; then each group goes its way.
      const live = new Map<string, MqttClient>();
      for (const id of ids.slice(0, 18)) live.set(id, await connect(id));
      const silent = [await silentClient(broker.port, ids[18]!), await silentClient(broker.port, ids[19]!)];
      await sleep(300);
      for (const id of ids.slice(0, 5)) await live.get(id)!.endAsync(); // clean: reason normal
      for (const id of ids.slice(5, 8)) live.get(id)!.stream.destroy(); // cut off: tcp_closed
      for (const id of ids.slice(8, 10)) await connect(id); // taken over by a new connection: still online
      await sleep(2500); // the two silent clients pass 1.5 × keepalive

      const expected = new Map<string, { online: number; reason: string }>();
      for (const id of ids.slice(0, 5)) expected.set(id, { online: 0, reason: 'normal' });
      for (const id of ids.slice(5, 8)) expected.set(id, { online: 0, reason: 'tcp_closed' });
      for (const id of ids.slice(8, 18)) expected.set(id, { online: 1, reason: 'connected' });
      for (const id of ids.slice(18)) expected.set(id, { online: 0, reason: 'keepalive_timeout' });

      await waitFor('the final presence of all 20 devices', async () => {
        const states = await finalStates(influx, 'emqx');
        return ids.every((id) => states.get(id)?.reason === expected.get(id)!.reason) ? true : undefined;
      }, 30_000, 250);
      const states = await finalStates(influx, 'emqx');
      for (const id of ids) {
        const want = expected.get(id)!;
        assert.deepEqual(states.get(id), {
          online: want.online, event: want.online ? 'connected' : 'disconnected', reason: want.reason, source: 'emqx', ...expectedPlace(id),
        }, id);
      }
      const takeovers = await influx.query("SELECT * FROM device_presence WHERE reason = 'takenover' OR reason = 'discarded'", 'emqx');
      assert.deepEqual(takeovers, [], 'a session that moved is never written as offline');
      const ips = await influx.query('SELECT DISTINCT(ip) FROM device_presence', 'emqx');
      assert.deepEqual(ips.map((row) => row.distinct), ['127.0.0.1']);
      silent.forEach((close) => close());
      assert.equal(await ingestor.stop(), 0);
      const stopped = ingestor.logLines().find((line) => line.msg === 'stopped') as { stats: { presenceIgnored: number; rejects: object } };
      assert.equal(stopped.stats.presenceIgnored, 2, 'the two takenover events');
      assert.deepEqual(stopped.stats.rejects, {});
    } finally {
      for (const client of clients) client.end(true);
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
    }
  });

  test('Mosquitto with birth and last will: clean offline, last wills of cut-off devices, takeovers end online; bad status payloads are rejects', async () => {
    const broker = await startMosquitto();
    await influx.query('CREATE DATABASE lwt');
    const ingestor = startIngestor({
      MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'lwt', FLUSH_INTERVAL_MS: '100',
      DEVICES_FILE: join(dir, 'devices.yaml'), DEVICE_DIRECTORY_FILE: join(dir, 'learned-lwt.json'),
    });
    const clients: MqttClient[] = [];
    const connect = async (id: string): Promise<MqttClient> => {
      const status = `sensors/${locationOf(id)}/${id}/status`;
      const client = await mqtt.connectAsync(broker.url, { clientId: id, reconnectPeriod: 0, will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true } });
      clients.push(client);
      await client.publishAsync(status, 'online', { qos: 1, retain: true });
      return client;
    };
    try {
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
      const live = new Map<string, MqttClient>();
      for (const id of ids) live.set(id, await connect(id));
      await sleep(300);
      for (const id of ids.slice(0, 5)) {
        // A clean stop: say offline, then disconnect (a clean DISCONNECT does not fire the will).
        await live.get(id)!.publishAsync(`sensors/${locationOf(id)}/${id}/status`, JSON.stringify({ online: false, reason: 'shutdown' }), { qos: 1, retain: true });
        await live.get(id)!.endAsync();
      }
      for (const id of ids.slice(5, 10)) live.get(id)!.stream.destroy(); // the broker publishes their wills
      for (const id of ids.slice(10, 12)) await connect(id); // taken over; the new connection announces itself
      const bad = await mqtt.connectAsync(broker.url, { clientId: 'bad-status', reconnectPeriod: 0 });
      for (const payload of ['maybe', '{"online":"yes"}', '']) await bad.publishAsync('sensors/lab/bad-status/status', payload, { qos: 1 });
      await bad.endAsync();

      const expected = new Map<string, { online: number; reason: string }>();
      for (const id of ids.slice(0, 5)) expected.set(id, { online: 0, reason: 'shutdown' });
      for (const id of ids.slice(5, 10)) expected.set(id, { online: 0, reason: 'status' });
      for (const id of ids.slice(10)) expected.set(id, { online: 1, reason: 'status' });
      await waitFor('the final presence of all 20 devices', async () => {
        const states = await finalStates(influx, 'lwt');
        return ids.every((id) => states.get(id)?.online === expected.get(id)!.online) ? true : undefined;
      }, 30_000, 250);
      const states = await finalStates(influx, 'lwt');
      for (const id of ids) {
        const want = expected.get(id)!;
        // A status topic names its location: it wins over the registry's.
        assert.deepEqual(states.get(id), {
          online: want.online, event: want.online ? 'connected' : 'disconnected', reason: want.reason, source: 'lwt',
          location: locationOf(id), group: REGISTERED.has(id) ? 'g-registered' : 'unknown',
        }, id);
      }
      assert.equal(await ingestor.stop(), 0);
      const stopped = ingestor.logLines().find((line) => line.msg === 'stopped') as { stats: { rejects: Record<string, number> } };
      assert.deepEqual(stopped.stats.rejects, { bad_presence: 3 });
    } finally {
      for (const client of clients) client.end(true);
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
    }
  });
});

describe('development broker access control', () => {
  test('devices publish only under their own id, only the monitor reads $SYS/#, bad passwords are refused', async () => {
    const broker = await startDevBroker();
    const clients: MqttClient[] = [];
    try {
      const monitor = await mqtt.connectAsync(broker.url, { clientId: 'monitor-1', reconnectPeriod: 0, ...DEV_BROKER_MONITOR });
      clients.push(monitor);
      const seen: string[] = [];
      monitor.on('message', (topic) => seen.push(topic));
      await monitor.subscribeAsync('sensors/#', { qos: 1 });

      const device = await mqtt.connectAsync(broker.url, { clientId: 'dev-a', reconnectPeriod: 0 });
      clients.push(device);
      const granted = await device.subscribeAsync('$SYS/#').then(() => 'granted', (error: { packet?: { granted?: number[] } }) => error.packet?.granted);
      assert.deepEqual(granted, [128], 'a device may not read $SYS/#');
      await device.publishAsync('sensors/lab/dev-a/telemetry', '{"t":1}', { qos: 1 });
      await waitFor('its own message delivered', () => (seen.includes('sensors/lab/dev-a/telemetry') ? true : undefined), 5000, 20);
      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      device.publish('sensors/lab/dev-b/telemetry', '{"t":1}', { qos: 1 });
      await closed; // the broker closes a connection that breaks the ACL
      await sleep(200);
      assert.deepEqual(seen, ['sensors/lab/dev-a/telemetry'], 'the message under another device\'s id was not delivered');

      const refused = await mqtt.connectAsync(broker.url, { clientId: 'intruder', reconnectPeriod: 0, username: 'monitor', password: 'guess' }).then(
        (client) => { clients.push(client); return 'connected'; },
        (error: Error) => error.message,
      );
      assert.match(refused, /Bad username or password/);
    } finally {
      for (const client of clients) client.end(true);
      await broker.stop();
    }
  });
});

describe('broker/mosquitto/acl on a real Mosquitto', () => {
  test('devices write only their own topics and read only their own commands; the monitor user reads every sensor topic', async () => {
    const secrets = mkdtempSync(join(tmpdir(), 'sensorflow-mosquitto-acl-'));
    const passwd = join(secrets, 'passwd');
    // Devices are identified by their user name (the ACL's %u); test/integration/security-acl.test.ts has the full story.
    for (const [user, password] of [['monitor', 'monitor-test-password'], ['dev-a', 'dev-a-test-password'], ['dev-b', 'dev-b-test-password']]) {
      const made = spawnSync('mosquitto_passwd', ['-b', ...(user === 'monitor' ? ['-c'] : []), passwd, user!, password!]);
      assert.equal(made.status, 0, made.stderr.toString());
    }
    const broker = await startMosquitto({ extraConfig: [`password_file ${passwd}`, `acl_file ${join(REPO_ROOT, 'broker', 'mosquitto', 'acl')}`] });
    const clients: MqttClient[] = [];
    const connect = async (options: mqtt.IClientOptions): Promise<MqttClient> => {
      const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, protocolVersion: 5, ...options });
      clients.push(client);
      return client;
    };
    try {
      const seenBy = { monitor: [] as string[], devB: [] as string[] };
      const monitor = await connect({ clientId: 'ingestor', username: 'monitor', password: 'monitor-test-password' });
      monitor.on('message', (topic) => seenBy.monitor.push(topic));
      await monitor.subscribeAsync('sensors/#', { qos: 1 });
      const devB = await connect({ clientId: 'dev-b', username: 'dev-b', password: 'dev-b-test-password' });
      devB.on('message', (topic) => seenBy.devB.push(topic));
      await devB.subscribeAsync('sensors/#', { qos: 1 });
      const devA = await connect({ clientId: 'dev-a', username: 'dev-a', password: 'dev-a-test-password' });
      await devA.publishAsync('sensors/lab/dev-a/telemetry', '{"t":1}', { qos: 1 });
      // MQTT 5: Mosquitto answers the PUBACK with reason 135, not authorized.
      await assert.rejects(devA.publishAsync('sensors/lab/dev-b/telemetry', '{"t":2}', { qos: 1 }), /Not authorized/);
      await devB.publishAsync('sensors/lab/dev-b/status', 'online', { qos: 1 });
      await waitFor('the allowed messages', () => (seenBy.monitor.length >= 2 ? true : undefined), 5000, 20);
      await sleep(200);
      assert.deepEqual(seenBy.monitor.sort(), ['sensors/lab/dev-a/telemetry', 'sensors/lab/dev-b/status']);
      assert.deepEqual(seenBy.devB, [], 'a device reads only its own command topics, not even its own status');
    } finally {
      for (const client of clients) client.end(true);
      await broker.stop();
      rmSync(secrets, { recursive: true, force: true });
    }
  });
});

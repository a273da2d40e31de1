/**
 * Device presence through real brokers into real InfluxDB 1.x:
 * - the development broker (EMQX 5 presence events): clean closes, cut-off
 *   sockets, keepalive expiry and takeovers; a first `connected` that arrives
 *   before the device's telemetry still gets the real location;
 * - Mosquitto: birth messages and last wills on status topics; the shipped
 *   .env subscribes to them; retained statuses re-sent at every restart are
 *   not new events.
 * The final `device_presence` state of every device is checked: online flag,
 * reason, location and group. Steps wait for what they depend on (points in
 * InfluxDB, ingestor log lines), never for a fixed time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { parse as parseDotenv } from 'dotenv';
import { REPO_ROOT, startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { DEV_BROKER_GATEWAY, DEV_BROKER_MONITOR, startDevBroker, startInflux1, startMosquitto, type Influx1 } from '../harness/services.ts';

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

interface PresenceRow {
  readonly time: number;
  readonly device: string;
  readonly online: number;
  readonly event: string;
  readonly reason: string;
  readonly location: string;
  readonly group: string;
  readonly source: string;
}

/** Every device_presence point, oldest first. */
async function presenceRows(influx: Influx1, db: string): Promise<PresenceRow[]> {
  return (await influx.query('SELECT * FROM device_presence', db)) as unknown as PresenceRow[];
}

/**
 * Waits until every device has at least `count` points that `keep` selects
 * (a barrier between steps; the final checks are exact); a timeout names the
 * devices that do not.
 */
async function waitForEach(influx: Influx1, db: string, what: string, devices: readonly string[], keep: (row: PresenceRow) => boolean, count: number): Promise<void> {
  await waitFor(what, async () => {
    const counts = new Map<string, number>();
    for (const row of await presenceRows(influx, db)) if (keep(row)) counts.set(row.device, (counts.get(row.device) ?? 0) + 1);
    const short = devices.filter((device) => (counts.get(device) ?? 0) < count).map((device) => `${device}: ${counts.get(device) ?? 0}`);
    // Not an assertion: short devices are "not yet" (waitFor fails at once on an AssertionError);
    // the timeout's message names them.
    if (short.length > 0) throw new Error(`devices with fewer than ${count}: ${short.join(', ')}`);
    return true;
  }, 30_000, 100);
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

/** A client (the development broker's gateway user) that connects with a keepalive of 1 s and then never speaks again. */
function silentClient(port: number, clientId: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => {
      socket.write(mqttPacket.generate({
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 1,
        username: DEV_BROKER_GATEWAY.username, password: Buffer.from(DEV_BROKER_GATEWAY.password),
      }));
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
      // One gateway connection per device, as the simulator connects: client id = device id.
      const client = await mqtt.connectAsync(broker.url, { clientId: id, reconnectPeriod: 0, keepalive: 60, ...DEV_BROKER_GATEWAY });
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
      await waitForEach(influx, 'emqx', 'phase 1: every device connected and left', ids, (row) => row.reason === 'normal', 1);
      // Phase 2: all connect again; then each group goes its way.
      const live = new Map<string, MqttClient>();
      for (const id of ids.slice(0, 18)) live.set(id, await connect(id));
      const silent = [await silentClient(broker.port, ids[18]!), await silentClient(broker.port, ids[19]!)];
      await waitForEach(influx, 'emqx', 'phase 2: every device connected again', ids, (row) => row.event === 'connected', 2);
      for (const id of ids.slice(0, 5)) await live.get(id)!.endAsync(); // clean: reason normal
      for (const id of ids.slice(5, 8)) live.get(id)!.stream.destroy(); // cut off: tcp_closed
      for (const id of ids.slice(8, 10)) await connect(id); // taken over by a new connection: still online
      // The two silent clients are dropped after 1.5 × keepalive; the wait below sees it.

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
      // Every device reported telemetry right after its first connect: no point may say "unknown",
      // not even that first connected, which reached the ingestor before the telemetry.
      const rows = await presenceRows(influx, 'emqx');
      assert.deepEqual(rows.filter((row) => row.location === 'unknown'), []);
      for (const row of rows) assert.equal(row.location, expectedPlace(row.device).location, `${row.device} ${row.event} at ${row.time}`);
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
      await waitForEach(influx, 'lwt', 'every birth message', ids, (row) => row.online === 1, 1);
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

describe('presence that dashboards and alerts can trust', () => {
  let influx: Influx1;
  let dir: string;
  before(async () => {
    influx = await startInflux1();
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-presence-trust-'));
  });
  after(async () => {
    await influx.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the shipped .env subscribes to status topics: a birth and a last will are recorded', async () => {
    const broker = await startMosquitto();
    await influx.query('CREATE DATABASE shipped');
    const shipped = parseDotenv(readFileSync(join(REPO_ROOT, '.env')));
    const { INFLUX_TOKEN: _token, ...values } = shipped; // InfluxDB 1.x here runs without auth
    const ingestor = startIngestor({
      ...values,
      // Only where things run differs from the shipped file.
      MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'shipped', HTTP_PORT: '0',
      DEVICE_DIRECTORY_FILE: join(dir, 'shipped-devices.json'),
    });
    let device: MqttClient | undefined;
    try {
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
      const status = 'sensors/dock-2/dev-shipped/status';
      device = await mqtt.connectAsync(broker.url, { clientId: 'dev-shipped', reconnectPeriod: 0, will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true } });
      await device.publishAsync(status, 'online', { qos: 1, retain: true });
      await device.publishAsync('sensors/dock-2/dev-shipped/telemetry', JSON.stringify({ temperature: 19.5 }), { qos: 1 });
      await waitFor('the birth', async () => ((await presenceRows(influx, 'shipped')).length === 1 ? true : undefined), 20_000, 100);
      device.stream.destroy(); // the broker publishes the will
      const rows = await waitFor('the last will', async () => {
        const found = await presenceRows(influx, 'shipped');
        return found.length === 2 ? found : undefined;
      }, 20_000, 100);
      assert.deepEqual(rows.map(({ time: _time, ...row }) => row), [
        { device: 'dev-shipped', online: 1, event: 'connected', reason: 'status', location: 'dock-2', group: 'unknown', source: 'lwt' },
        { device: 'dev-shipped', online: 0, event: 'disconnected', reason: 'status', location: 'dock-2', group: 'unknown', source: 'lwt' },
      ]);
      assert.equal(ingestor.logLines().filter((line) => line.level === 40 && /MQTT_TOPICS/.test(String(line.msg))).length, 0, 'no presence warning');
      assert.equal(await ingestor.stop(), 0);
    } finally {
      device?.end(true);
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
    }
  });

  test('an MQTT_TOPICS without a presence source says so once at start-up', async () => {
    const broker = await startMosquitto();
    const ingestor = startIngestor({ MQTT_URL: broker.url, MQTT_TOPICS: 'sensors/+/+/telemetry', INFLUX_URL: influx.url, INFLUX_API: 'v1' });
    try {
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
      const warnings = ingestor.logLines().filter((line) => line.level === 40);
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(String(warnings[0]!.msg), /^MQTT_TOPICS="sensors\/\+\/\+\/telemetry" subscribes to no device presence source.*add sensors\/\+\/\+\/status/);
      assert.equal(await ingestor.stop(), 0);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
    }
  });

  test('Mosquitto: a retained offline re-sent at each of two restarts stays one point with its original time', async () => {
    const broker = await startMosquitto();
    await influx.query('CREATE DATABASE retained');
    const env = {
      MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'retained', FLUSH_INTERVAL_MS: '100',
      DEVICE_DIRECTORY_FILE: join(dir, 'retained-devices.json'), LOG_LEVEL: 'debug',
    };
    const clients: MqttClient[] = [];
    const runs: Ingestor[] = [];
    const start = async (): Promise<Ingestor> => {
      const ingestor = startIngestor(env, `ingestor-${runs.length + 1}`);
      runs.push(ingestor);
      await waitUntilSubscribed(ingestor, ['sensors/+/+/status']);
      return ingestor;
    };
    try {
      // dev-b went offline before this ingestor ever ran, and said when.
      const offlineSince = Date.now() - 3_600_000;
      const b = await mqtt.connectAsync(broker.url, { clientId: 'dev-b', reconnectPeriod: 0 });
      await b.publishAsync('sensors/yard/dev-b/status', JSON.stringify({ online: false, reason: 'battery_empty', ts: offlineSince }), { qos: 1, retain: true });
      await b.endAsync();

      const first = await start();
      // dev-a: a birth, then its connection is cut and the broker publishes its last will (no time in it).
      const a = await mqtt.connectAsync(broker.url, { clientId: 'dev-a', reconnectPeriod: 0, will: { topic: 'sensors/lab/dev-a/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
      clients.push(a);
      await a.publishAsync('sensors/lab/dev-a/status', 'online', { qos: 1, retain: true });
      await waitFor('dev-a online', async () => ((await presenceRows(influx, 'retained')).some((row) => row.device === 'dev-a') ? true : undefined), 20_000, 100);
      a.stream.destroy();
      const before = await waitFor('dev-a offline and dev-b offline', async () => {
        const rows = await presenceRows(influx, 'retained');
        return rows.length === 3 ? rows : undefined;
      }, 20_000, 100);
      assert.equal(await first.stop(), 0);

      for (const restart of [1, 2]) {
        const next = await start();
        for (const device of ['dev-a', 'dev-b']) {
          await next.waitForLog(`restart ${restart}: the retained status of ${device} is known`, (line) =>
            line.msg === 'presence event changes nothing' && line.device === device && line.why === 'retained_known');
        }
        assert.equal(await next.stop(), 0);
        const stopped = next.logLines().find((line) => line.msg === 'stopped') as { stats: { presenceIgnored: number; pointsAccepted: number } };
        assert.deepEqual([stopped.stats.presenceIgnored, stopped.stats.pointsAccepted], [2, 0], `restart ${restart}`);
      }

      const after = await presenceRows(influx, 'retained');
      assert.deepEqual(after, before, 'the restarts added nothing');
      const offline = after.filter((row) => row.online === 0);
      assert.deepEqual(offline.map((row) => [row.device, row.reason, row.location]).sort(), [['dev-a', 'status', 'lab'], ['dev-b', 'battery_empty', 'yard']]);
      assert.equal(offline.find((row) => row.device === 'dev-b')!.time, offlineSince, 'the payload\'s own time, not the receive time');
    } finally {
      for (const client of clients) client.end(true);
      for (const run of runs) {
        await run.stop();
        run.cleanup();
      }
      await broker.stop();
    }
  });

  test('development broker: a device\'s first connected, seen before its telemetry, carries the real location', async () => {
    // dev-mute logs in as itself (role device): a device even before it sends anything. A gateway
    // login is a device only once its client id sends something (docs/liveness.md).
    const broker = await startDevBroker([{ username: 'dev-mute', password: 'dev-mute-password', role: 'device' }]);
    await influx.query('CREATE DATABASE hold');
    const ingestor = startIngestor({
      MQTT_URL: broker.url, MQTT_USERNAME: DEV_BROKER_MONITOR.username, MQTT_PASSWORD: DEV_BROKER_MONITOR.password,
      PRESENCE_EMQX: 'true', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'hold', FLUSH_INTERVAL_MS: '100',
      DEVICE_DIRECTORY_FILE: join(dir, 'hold-devices.json'), LOG_LEVEL: 'debug',
      // Long enough that nothing expires during the test: only telemetry or shutdown releases an event.
      PRESENCE_HOLD_MS: '60000',
    });
    const clients: MqttClient[] = [];
    // A gateway login's event waits to be known as a device's, a device login's for its location: both are held.
    const held = (device: string) => ingestor.waitForLog(`${device}'s connected held`, (line) =>
      typeof line.msg === 'string' && /^presence event (of a gateway user's client )?held until/.test(line.msg) && line.device === device);
    try {
      await waitUntilSubscribed(ingestor, ['$SYS/brokers/+/clients/+/connected', 'sensors/+/+/telemetry']);
      const fresh = await mqtt.connectAsync(broker.url, { clientId: 'dev-fresh', reconnectPeriod: 0, ...DEV_BROKER_GATEWAY });
      clients.push(fresh);
      await held('dev-fresh'); // the ingestor has the connected event and knows no location yet
      await fresh.publishAsync('sensors/dock-7/dev-fresh/telemetry', JSON.stringify({ temperature: 18.25 }), { qos: 1 });
      const rows = await waitFor('dev-fresh\'s connected point', async () => {
        const found = await presenceRows(influx, 'hold');
        return found.length > 0 ? found : undefined;
      }, 20_000, 100);
      assert.deepEqual(rows.map(({ time: _time, ...row }) => row), [
        { device: 'dev-fresh', online: 1, event: 'connected', reason: 'connected', location: 'dock-7', group: 'unknown', source: 'emqx', ip: '127.0.0.1' },
      ]);

      // A device that never names its location: still written, at shutdown, with what is known.
      const mute = await mqtt.connectAsync(broker.url, { clientId: 'dev-mute', reconnectPeriod: 0, username: 'dev-mute', password: 'dev-mute-password' });
      clients.push(mute);
      await held('dev-mute');
      assert.equal(await ingestor.stop(), 0);
      const all = await presenceRows(influx, 'hold');
      assert.deepEqual(all.map((row) => [row.device, row.event, row.location]), [['dev-fresh', 'connected', 'dock-7'], ['dev-mute', 'connected', 'unknown']]);
      const telemetry = await influx.query('SELECT temperature, location FROM telemetry', 'hold');
      assert.deepEqual(telemetry.map(({ time: _time, ...row }) => row), [{ temperature: 18.25, location: 'dock-7' }]);
    } finally {
      for (const client of clients) client.end(true);
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
    }
  });
});

describe('development broker access control', () => {
  // The full matrix, with the ingestor storing: test/integration/security-acl-dev.test.ts.
  test('devices publish only under their own user name, only the monitor reads $SYS/#, bad passwords are refused', async () => {
    const broker = await startDevBroker([{ username: 'dev-a', password: 'dev-a-test-password', role: 'device' }]);
    const clients: MqttClient[] = [];
    try {
      const monitor = await mqtt.connectAsync(broker.url, { clientId: 'monitor-1', reconnectPeriod: 0, ...DEV_BROKER_MONITOR });
      clients.push(monitor);
      const seen: string[] = [];
      monitor.on('message', (topic) => seen.push(topic));
      await monitor.subscribeAsync('sensors/#', { qos: 1 });

      // A denied filter closes the connection, none of its filters subscribed (EMQX 5.8.6 with
      // deny_action = disconnect: emqx_channel:do_check_sub_authzs; the dev broker does the same).
      const prober = await mqtt.connectAsync(broker.url, { clientId: 'dev-a', reconnectPeriod: 0, username: 'dev-a', password: 'dev-a-test-password' });
      clients.push(prober);
      const proberClosed = new Promise<'closed'>((resolve) => prober.once('close', () => resolve('closed')));
      const granted = await Promise.race([prober.subscribeAsync('$SYS/#').then(() => 'granted', (error: { packet?: unknown }) => (error.packet === undefined ? 'closed' : 'SUBACK')), proberClosed]);
      assert.equal(granted, 'closed', 'a device may not read $SYS/#');
      const device = await mqtt.connectAsync(broker.url, { clientId: 'dev-a', reconnectPeriod: 0, username: 'dev-a', password: 'dev-a-test-password' });
      clients.push(device);
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
    for (const [user, password] of [['monitor', 'monitor-test-password'], ['dev-a', 'dev-a-test-password'], ['dev-b', 'dev-b-test-password'], ['commander', 'commander-test-password']]) {
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
      // A barrier instead of a pause: Mosquitto routes each message before it acknowledges it and
      // delivers to a subscriber in order, so once this command (which both may read) has arrived,
      // anything published before it that was going to arrive has arrived.
      const commander = await connect({ clientId: 'commander', username: 'commander', password: 'commander-test-password' });
      const barrier = 'sensors/lab/dev-b/commands/barrier';
      await commander.publishAsync(barrier, 'x', { qos: 1 });
      await waitFor('the barrier at both subscribers', () => (seenBy.monitor.includes(barrier) && seenBy.devB.includes(barrier) ? true : undefined), 5000, 20);
      assert.deepEqual(seenBy.monitor, ['sensors/lab/dev-a/telemetry', 'sensors/lab/dev-b/status', barrier]);
      assert.deepEqual(seenBy.devB, [barrier], 'a device reads only its own command topics, not even its own status');
    } finally {
      for (const client of clients) client.end(true);
      await broker.stop();
      rmSync(secrets, { recursive: true, force: true });
    }
  });
});

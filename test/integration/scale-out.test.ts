/**
 * Scale-out on real Mosquitto: several ingestors in one shared subscription
 * group (MQTT_SHARED_GROUP), each with its own fixed MQTT_CLIENT_ID, a
 * persistent session and its own WAL_DIR, writing to one InfluxDB 1.x.
 *
 * 1. Three members, 100,000 messages from 1,000 devices, one member SIGKILLed
 *    at a seeded point and restarted as its supervisor would (same client id,
 *    same WAL_DIR): every message stored exactly once, each member took a share.
 * 2. A member that never comes back: Mosquitto keeps assigning it its share
 *    until its session expires (MQTT_SESSION_EXPIRY_S); what was queued for it
 *    is lost with the session, and after that the live members take everything.
 *
 * SCALE_SEED=<n> picks the seed; each test prints the one it used.
 * Spawns processes: run under the shared lock.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seededRandom } from '../../simulator/readings.ts';
import { makeFleet } from '../harness/fleet.ts';
import { startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';
import { assertSameDataset, countTelemetry, readFleetFromInflux } from '../harness/verify.ts';

const SEED = Number(process.env.SCALE_SEED ?? 20261123);
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 6 * 3600 * 1000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const FAST_RECOVERY = { FLUSH_INTERVAL_MS: '200', WRITE_RETRY_MAX_MS: '2000' };
const RECEIVED = 'sensorflow_messages_received_total{route="default"}';

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** One member of the group: what its supervisor would restart with the same settings. */
interface Member {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly httpPort: number;
  readonly walDir: string;
  ingestor: Ingestor;
}

async function startMember(name: string, common: Record<string, string>): Promise<Member> {
  const httpPort = await freePort();
  const walDir = mkdtempSync(join(tmpdir(), `sensorflow-wal-${name}-`));
  const env = { ...common, MQTT_CLIENT_ID: name, WAL_DIR: walDir, HTTP_PORT: String(httpPort), ...FAST_RECOVERY };
  return { name, env, httpPort, walDir, ingestor: startIngestor(env, name) };
}

async function removeMember(member: Member): Promise<void> {
  await member.ingestor.stop();
  member.ingestor.cleanup();
  rmSync(member.walDir, { recursive: true, force: true });
}

const subscribed = (member: Member, group: string): Promise<void> => waitUntilSubscribed(member.ingestor, [`$share/${group}/sensors/+/+/telemetry`]);

describe('several ingestors in one shared subscription group on Mosquitto', () => {
  let broker: Mosquitto;
  let influx: Influx1;
  let brokerLogDir: string;
  before(async () => {
    // A log file, flushed line by line (stdout to a pipe is buffered): the test awaits a session's expiry in it.
    brokerLogDir = mkdtempSync(join(tmpdir(), 'sensorflow-mosquitto-log-'));
    [broker, influx] = await Promise.all([startMosquitto({ extraConfig: [`log_dest file ${join(brokerLogDir, 'mosquitto.log')}`] }), startInflux1()]);
  });
  after(async () => {
    await Promise.all([broker.stop(), influx.stop()]);
    rmSync(brokerLogDir, { recursive: true, force: true });
  });
  const brokerLog = (): string => {
    try {
      return readFileSync(join(brokerLogDir, 'mosquitto.log'), 'utf8');
    } catch {
      return '';
    }
  };

  test('three members, 100,000 messages from 1,000 devices, one SIGKILLed midway and restarted: every message stored once, each member took a share', async (t) => {
    t.diagnostic(`SCALE_SEED=${SEED}`);
    const random = seededRandom(SEED);
    await influx.query('CREATE DATABASE scale');
    const common = { MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'scale', MQTT_SHARED_GROUP: 'sf', MQTT_QOS: '1' };
    const members = [await startMember('scale-a', common), await startMember('scale-b', common), await startMember('scale-c', common)];
    try {
      await Promise.all(members.map((member) => subscribed(member, 'sf')));
      const fleet = makeFleet(1000, 100, BASE_MS);
      const total = fleet.messages.length;
      const victim = members[Math.floor(random() * members.length)]!;
      const killAt = Math.floor(total * (0.3 + random() * 0.3));
      const downMs = 200 + Math.floor(random() * 1000);
      t.diagnostic(`SIGKILL ${victim.name} after ${killAt} acknowledged publishes, restart ${downMs} ms later`);

      let receivedBeforeKill = 0;
      let killed: Promise<void> | undefined;
      const publisher = await connectPublisher(broker.url);
      const started = Date.now();
      await publishAll(publisher, fleet.messages, {
        window: 500,
        onAck: (acknowledged) => {
          if (acknowledged !== killAt) return;
          killed = (async () => {
            // What it had taken so far (a little may come in between: it is counted again after the restart, or lost from this count only).
            receivedBeforeKill = await metric(victim.httpPort, RECEIVED);
            assert.notEqual(await victim.ingestor.process.kill(), 0);
            victim.ingestor.cleanup();
            await sleep(downMs);
            victim.ingestor = startIngestor(victim.env, `${victim.name}-restarted`);
          })();
        },
      });
      await publisher.endAsync();
      assert.ok(killed, 'the kill happened');
      await killed;
      await victim.ingestor.waitForLog('the restarted member resumes its session', (line) => line.msg === 'connected to the MQTT broker' && line.sessionPresent === true);
      await waitFor(`${total} points`, async () => ((await countTelemetry(influx, 'scale')) === total ? true : undefined), 120_000, 500);
      const elapsedS = (Date.now() - started) / 1000;
      t.diagnostic(`${total} messages published and stored by 3 members in ${elapsedS.toFixed(1)} s: ${Math.round(total / elapsedS)} msg/s end to end`);

      // Content: every (device, reading) once, with its values; nothing else.
      assertSameDataset(fleet, await readFleetFromInflux(influx, 'scale'));

      const shares = await Promise.all(members.map(async (member) => (await metric(member.httpPort, RECEIVED)) + (member === victim ? receivedBeforeKill : 0)));
      t.diagnostic(`messages taken: ${members.map((m, i) => `${m.name} ${shares[i]}${m === victim ? ` (${receivedBeforeKill} before the kill)` : ''}`).join(', ')}`);
      for (const [i, share] of shares.entries()) assert.ok(share >= total * 0.2, `${members[i]!.name} took ${share} of ${total}: less than a fair share`);
      assert.ok(receivedBeforeKill > 0, 'the victim took messages before it was killed');
      for (const member of members) assert.equal(await member.ingestor.stop(), 0, `${member.name} shut down cleanly`);
    } finally {
      for (const member of members) await removeMember(member);
    }
  });

  test('a member that never returns: its share is queued in its session until MQTT_SESSION_EXPIRY_S, lost with it, then the live members take everything', async (t) => {
    const expiryS = 3;
    await influx.query('CREATE DATABASE expiry');
    const common = {
      MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'expiry', MQTT_SHARED_GROUP: 'sx', MQTT_QOS: '1',
      MQTT_SESSION_EXPIRY_S: String(expiryS),
    };
    const members = [await startMember('expiry-a', common), await startMember('expiry-b', common), await startMember('expiry-dead', common)];
    const [a, b, dead] = members as [Member, Member, Member];
    try {
      await Promise.all(members.map((member) => subscribed(member, 'sx')));
      await dead.ingestor.process.kill();

      // Published while the dead member's session lives: a share of these is queued for it.
      const whileQueued = makeFleet(300, 10, BASE_MS);
      const publisher = await connectPublisher(broker.url);
      await publishAll(publisher, whileQueued.messages);

      // Mosquitto says when it deletes the session (log_type notice).
      await waitFor('Mosquitto to expire the dead member\'s session', () =>
        brokerLog().includes('Expiring client expiry-dead due to timeout.') ? true : undefined, (expiryS + 10) * 1000);
      const afterExpiry = makeFleet(300, 10, BASE_MS + 3_600_000);
      await publishAll(publisher, afterExpiry.messages);
      await publisher.endAsync();

      // Everything after the expiry is stored by the live members.
      const received = async (): Promise<number> => (await metric(a.httpPort, RECEIVED)) + (await metric(b.httpPort, RECEIVED));
      await waitFor('the live members to take every message they were given', async () => {
        const stored = await readFleetFromInflux(influx, 'expiry');
        const all = [...afterExpiry.expected.keys()].every((key) => stored.has(key));
        return all && stored.size === (await received()) ? stored : undefined;
      }, 60_000, 500);
      const stored = await readFleetFromInflux(influx, 'expiry');
      for (const [key, want] of afterExpiry.expected) assert.deepEqual(stored.get(key), want, `after expiry: ${key}`);

      // Of those published while its session lived, the dead member's share is missing: assigned to it, lost with it.
      const lost = [...whileQueued.expected.keys()].filter((key) => !stored.has(key));
      t.diagnostic(`published while the dead member's session lived: ${whileQueued.messages.length}; lost with its session: ${lost.length}`);
      assert.ok(lost.length >= whileQueued.messages.length * 0.2 && lost.length <= whileQueued.messages.length * 0.5, `lost ${lost.length}`);
      for (const [key, want] of whileQueued.expected) if (stored.has(key)) assert.deepEqual(stored.get(key), want);
      assert.equal(stored.size, whileQueued.messages.length - lost.length + afterExpiry.messages.length, 'nothing else stored');

      // It comes back too late: a new session, nothing of what was queued for it.
      dead.ingestor = startIngestor(dead.env, 'expiry-dead-returns');
      await dead.ingestor.waitForLog('a fresh session', (line) => line.msg === 'connected to the MQTT broker' && line.sessionPresent === false);
      await subscribed(dead, 'sx');
      await sleep(1000);
      assert.equal(await metric(dead.httpPort, RECEIVED), 0, 'nothing was kept for it');
      assert.equal(await countTelemetry(influx, 'expiry'), stored.size, 'the lost share never arrives');
    } finally {
      for (const member of members) await removeMember(member);
    }
  });
});

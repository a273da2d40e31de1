/**
 * Device liveness (docs/liveness.md), pure parts and the pipeline with an
 * in-memory log: the book (payload time vs receive time, stale events,
 * unknown vs online/offline, forget), the `device_state` line, the
 * catching-up rule, the tick writer, the directory file (old format
 * included), the settings, and who is a device.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfig, sharedSubscriptions } from '../../ingestor/config.ts';
import type { InboundMessage } from '../../ingestor/contracts.ts';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { parseRegistry } from '../../ingestor/directory/registry.ts';
import { LivenessBook } from '../../ingestor/liveness/book.ts';
import { catchingUp, LagCounter } from '../../ingestor/liveness/catch-up.ts';
import { LivenessTicker } from '../../ingestor/liveness/ticker.ts';
import { deviceStatePoint, tickTimeMs } from '../../ingestor/liveness/to-point.ts';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';
import { emptyStats } from '../../ingestor/pipeline/stats.ts';
import { inboundMessage, memoryIngest, MemoryLog } from '../harness/memory-ingest.ts';

/** A whole minute, so that 60 s ticks fall on it. */
const NOW = 1732279980000;
const MINUTE = 60_000;
const silent = pino({ level: 'silent' });
const noFiles = (): Buffer => {
  throw new Error('no files in this test');
};

const message = (topic: string, payload: unknown, extra: Partial<InboundMessage> = {}): InboundMessage => inboundMessage(topic, payload, NOW, { qos: 1, ...extra });

describe('LivenessBook', () => {
  test('the newest message wins: an older one (a backlog) never moves last seen back; first seen is the oldest', () => {
    const book = new LivenessBook();
    book.seen('d', NOW - 5000, NOW);
    book.seen('d', NOW - 9000, NOW);
    book.seen('d', NOW - 7000, NOW);
    assert.deepEqual({ ...book.get('d') }, { lastSeenMs: NOW - 5000, firstSeenMs: NOW - 9000, ownData: true, online: undefined, sinceMs: NOW - 5000, presenceAtMs: 0, source: 'none' });
  });

  test('presence: since is the time of the last change, a repeat keeps it, an older event is stale', () => {
    const book = new LivenessBook();
    book.seen('d', NOW - 60_000, NOW);
    book.presence('d', true, NOW - 50_000, 'emqx', NOW);
    book.presence('d', true, NOW - 40_000, 'lwt', NOW);
    assert.deepEqual([book.get('d')!.online, book.get('d')!.sinceMs, book.get('d')!.source], [true, NOW - 50_000, 'lwt']);
    book.presence('d', false, NOW - 30_000, 'emqx', NOW);
    book.presence('d', true, NOW - 35_000, 'emqx', NOW); // stale: older than the newest applied
    // A presence event alone is no message time: the caller says seen() when it is one.
    assert.deepEqual([book.get('d')!.online, book.get('d')!.sinceMs, book.get('d')!.lastSeenMs], [false, NOW - 30_000, NOW - 60_000]);
  });

  test('forget: only devices silent for at least the given time leave, and are returned with their silence', () => {
    const book = new LivenessBook();
    book.seen('old', NOW - 31 * 86_400_000, NOW);
    book.seen('edge', NOW - 30 * 86_400_000, NOW);
    book.seen('young', NOW - 29 * 86_400_000, NOW);
    const gone = book.forget(NOW, 30 * 86_400_000);
    assert.deepEqual(gone.map((f) => [f.device, f.silentMs]), [['old', 31 * 86_400_000], ['edge', 30 * 86_400_000]]);
    assert.deepEqual([...book.entries()].map(([device]) => device), ['young']);
  });
});

describe('device_state point', () => {
  const book = new LivenessBook();
  book.seen('tel', NOW - 95_500, NOW);
  book.seen('off', NOW - 90 * MINUTE, NOW);
  book.presence('off', false, NOW - 90 * MINUTE, 'lwt', NOW);
  book.presence('on', true, NOW - 10_000, 'emqx', NOW);
  book.seen('on', NOW - 2000, NOW);
  const line = (device: string, where = {}, state?: string): string => encodePoint(deviceStatePoint(device, book.get(device)!, NOW, 'ing-1', where, state));

  test('unknown: online -1, since first seen, no presence source; absent tags omitted', () => {
    assert.equal(line('tel', { location: 'hall' }), `device_state,device=tel,instance=ing-1,location=hall state="unknown",online=-1i,offline_s=0i,silent_s=95i,last_seen=${NOW - 95_500}i,since=${NOW - 95_500}i,source="none" ${NOW}`);
  });

  test('offline: offline_s from the event\'s own time', () => {
    assert.equal(line('off', { location: 'roof', group: 'g' }), `device_state,device=off,group=g,instance=ing-1,location=roof state="offline",online=0i,offline_s=5400i,silent_s=5400i,last_seen=${NOW - 5_400_000}i,since=${NOW - 5_400_000}i,source="lwt" ${NOW}`);
  });

  test('online: offline_s 0; forgotten: the state given', () => {
    assert.equal(line('on', { group: 'g' }), `device_state,device=on,group=g,instance=ing-1 state="online",online=1i,offline_s=0i,silent_s=2i,last_seen=${NOW - 2000}i,since=${NOW - 10_000}i,source="emqx" ${NOW}`);
    assert.match(line('on', {}, 'forgotten'), /^device_state,device=on,instance=ing-1 state="forgotten",online=1i,/);
  });

  test('a device clock ahead of ours never gives a negative silence', () => {
    const ahead = new LivenessBook();
    ahead.seen('fast', NOW + 30_000, NOW + 30_000);
    assert.match(encodePoint(deviceStatePoint('fast', ahead.get('fast')!, NOW, 'i', {})), /silent_s=0i/);
  });

  test('the tick time is floored to the interval', () => {
    assert.equal(tickTimeMs(NOW + 59_999, 60_000), NOW);
    assert.equal(tickTimeMs(NOW + 1234, 1000), NOW + 1000);
  });
});

describe('catching up', () => {
  for (const [what, window, expected] of [
    ['disconnected from the broker', { brokerConnected: false, reconnected: false, timedMessages: 10, lateMessages: 0 }, 'disconnected'],
    ['more than half of the timed messages late', { brokerConnected: true, reconnected: false, timedMessages: 10, lateMessages: 6 }, 'backlog'],
    ['half late is not a majority', { brokerConnected: true, reconnected: false, timedMessages: 10, lateMessages: 5 }, undefined],
    ['reconnected and nothing timed yet', { brokerConnected: true, reconnected: true, timedMessages: 0, lateMessages: 0 }, 'reconnected'],
    ['reconnected and on-time messages since', { brokerConnected: true, reconnected: true, timedMessages: 3, lateMessages: 0 }, undefined],
    ['no timed messages at all, connected all along', { brokerConnected: true, reconnected: false, timedMessages: 0, lateMessages: 0 }, undefined],
  ] as const) {
    test(what, () => assert.equal(catchingUp(window), expected));
  }

  test('the lag counter: late is strictly older than the bound on arrival', () => {
    const lag = new LagCounter(60_000);
    lag.count(NOW, NOW - 60_000);
    lag.count(NOW, NOW - 60_001);
    lag.count(NOW, NOW + 5);
    assert.deepEqual([lag.timed, lag.late], [3, 1]);
    lag.reset();
    assert.deepEqual([lag.timed, lag.late], [0, 0]);
  });
});

describe('LivenessTicker', () => {
  const setup = (options: { forgetAfterMs?: number; connected?: boolean } = {}) => {
    const directory = new DeviceDirectory(parseRegistry('d.yaml', 'devices:\n  a: { location: lab, group: g1 }\n'), undefined, silent);
    const wal = new MemoryLog();
    const stats = emptyStats();
    const lag = new LagCounter(60_000);
    const broker = { connected: options.connected ?? true, connections: 0 };
    let now = NOW;
    const ticker = new LivenessTicker({
      intervalMs: 60_000, forgetAfterMs: options.forgetAfterMs, troubleSilentAfterMs: 300_000, instance: 'i1', directory, wal, canAppend: () => true, stats, lag, broker, log: silent, now: () => now, sharedGroup: false,
    });
    return { directory, wal, stats, lag, broker, ticker, setNow: (ms: number) => void (now = ms) };
  };

  test('one point per device at the floored tick time, registry location and group; counted', async () => {
    const { directory, wal, stats, ticker } = setup();
    directory.liveness.seen('a', NOW - 1000, NOW);
    directory.learnLocation('b', 'yard');
    directory.liveness.seen('b', NOW - 2000, NOW);
    directory.liveness.seen('c', NOW - 3000, NOW);
    const outcome = await ticker.tick();
    assert.deepEqual(outcome, { kind: 'written', tickMs: NOW, devices: 3, forgotten: [], inTrouble: 0 });
    assert.deepEqual(wal.lines.map((line) => line.split(' ')[0]), [
      'device_state,device=a,group=g1,instance=i1,location=lab',
      'device_state,device=b,instance=i1,location=yard',
      'device_state,device=c,instance=i1',
      'device_trouble,instance=i1',
    ]);
    assert.deepEqual([stats.deviceStateTicks, stats.pointsAccepted, stats.catchingUp], [1, 4, false]);
  });

  test('skipped while catching up: disconnected, a backlog, a reconnection with nothing timed since', async () => {
    const { directory, wal, stats, lag, broker, ticker } = setup({ connected: false });
    directory.liveness.seen('a', NOW, NOW);
    assert.deepEqual(await ticker.tick(), { kind: 'skipped', why: 'disconnected' });
    broker.connected = true;
    broker.connections = 1;
    assert.deepEqual(await ticker.tick(), { kind: 'skipped', why: 'reconnected' });
    lag.count(NOW, NOW - 10 * MINUTE);
    lag.count(NOW, NOW - 10 * MINUTE);
    lag.count(NOW, NOW);
    assert.deepEqual(await ticker.tick(), { kind: 'skipped', why: 'backlog' });
    assert.equal(stats.catchingUp, true);
    lag.count(NOW, NOW);
    assert.equal((await ticker.tick()).kind, 'written');
    assert.deepEqual([stats.deviceStateSkipped, stats.deviceStateTicks, stats.catchingUp, wal.lines.length], [3, 1, false, 2]);
  });

  test('one log line when catching up starts and one when it ends; a warning when a backlog lasts ten ticks', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const directory = new DeviceDirectory(parseRegistry('d.yaml', 'devices: {}\n'), undefined, silent);
    const lag = new LagCounter(60_000);
    let now = NOW;
    const ticker = new LivenessTicker({
      intervalMs: 60_000, forgetAfterMs: undefined, troubleSilentAfterMs: 300_000, instance: 'i1', directory, wal: new MemoryLog(), canAppend: () => true, stats: emptyStats(), lag, broker: { connected: true, connections: 0 }, log, now: () => now, sharedGroup: false,
    });
    for (let tick = 0; tick < 11; tick += 1) {
      lag.count(now, now - 10 * MINUTE);
      assert.deepEqual(await ticker.tick(), { kind: 'skipped', why: 'backlog' });
      now += 60_000;
    }
    lag.count(now, now);
    assert.equal((await ticker.tick()).kind, 'written');
    assert.deepEqual(lines.map((line) => [line.level, (line.msg as string).split(':')[0], line.timedMessages ?? null, line.lateMessages ?? null]), [
      [30, 'catching up (backlog)', 1, 1],
      [40, 'still catching up a backlog', 1, 1],
      [30, 'caught up', null, null],
    ]);
    assert.equal(lines[2]!.forS, 660);
  });

  test('forget: a last point state="forgotten", gone from the book and the learned directory, counted; the others stay', async () => {
    const { directory, wal, stats, ticker } = setup({ forgetAfterMs: 30 * 86_400_000 });
    directory.learnLocation('old', 'cellar');
    directory.liveness.seen('old', NOW - 31 * 86_400_000, NOW);
    directory.liveness.seen('a', NOW - 29 * 86_400_000, NOW);
    const outcome = await ticker.tick();
    assert.deepEqual(outcome, { kind: 'written', tickMs: NOW, devices: 1, forgotten: ['old'], inTrouble: 1 });
    assert.match(wal.lines[0]!, /^device_state,device=old,instance=i1,location=cellar state="forgotten",online=-1i,offline_s=0i,silent_s=2678400i,/);
    assert.match(wal.lines[1]!, /^device_state,device=a,group=g1,instance=i1,location=lab state="unknown"/);
    assert.equal(directory.liveness.has('old'), false);
    assert.equal(directory.hasLocation('old'), false);
    assert.equal(stats.devicesForgotten, 1);
  });

  test('without a forget rule nothing is ever forgotten', async () => {
    const { directory, ticker } = setup();
    directory.liveness.seen('ancient', NOW - 3650 * 86_400_000, NOW);
    assert.equal((await ticker.tick()).kind, 'written');
    assert.equal(directory.liveness.has('ancient'), true);
  });

  test('a large fleet goes in records of at most 32 KiB', async () => {
    const { directory, wal, ticker } = setup();
    for (let i = 0; i < 2000; i += 1) directory.liveness.seen(`device-${i}`, NOW - i, NOW);
    await ticker.tick();
    assert.equal(wal.lines.filter((line) => line.startsWith('device_state,')).length, 2000);
    assert.equal(wal.lines.length, 2001, 'and the heartbeat: nobody is in trouble');
    assert.ok(wal.records.length > 1);
    for (const record of wal.records) assert.ok(record.reduce((sum, line) => sum + line.length + 1, 0) <= 32 * 1024);
  });
});

describe('liveness through Ingest', () => {
  test('payload time when there is one, receive time else; a retained message without a time says nothing about now', () => {
    const lag = new LagCounter(60_000);
    const { ingest, directory } = memoryIngest({ lag });
    assert.equal(ingest.accept(message('sensors/a/timed/telemetry', { t: 1, ts: NOW - 10 * MINUTE })), undefined);
    assert.equal(ingest.accept(message('sensors/a/untimed/telemetry', { t: 1 })), undefined);
    assert.equal(ingest.accept(message('sensors/a/retained/telemetry', { t: 1 }, { retained: true })), undefined);
    assert.equal(ingest.accept(message('sensors/a/retained-timed/telemetry', { t: 1, ts: NOW - MINUTE }, { retained: true })), undefined);
    assert.equal(directory.liveness.get('timed')!.lastSeenMs, NOW - 10 * MINUTE);
    assert.equal(directory.liveness.get('untimed')!.lastSeenMs, NOW);
    assert.equal(directory.liveness.has('retained'), false);
    assert.equal(directory.liveness.get('retained-timed')!.lastSeenMs, NOW - MINUTE);
    // Only the live timed message counts for catching up: late (10 minutes).
    assert.deepEqual([lag.timed, lag.late], [1, 1]);
  });

  test('a status topic: presence since the payload\'s time; a stale one changes nothing', () => {
    const { ingest, directory } = memoryIngest();
    assert.equal(ingest.accept(message('sensors/roof/d/status', { online: false, ts: NOW - 90 * MINUTE })), undefined);
    assert.equal(ingest.accept(message('sensors/roof/d/status', { online: true, ts: NOW - 100 * MINUTE })), undefined);
    assert.deepEqual({ ...directory.liveness.get('d') }, { lastSeenMs: NOW - 90 * MINUTE, firstSeenMs: NOW - 100 * MINUTE, ownData: true, online: false, sinceMs: NOW - 90 * MINUTE, presenceAtMs: NOW - 90 * MINUTE, source: 'lwt', firstState: true });
  });

  const emqx = (clientid: string, username: string, kind: 'connected' | 'disconnected' = 'connected'): InboundMessage => message(`$SYS/brokers/n/clients/${clientid}/${kind}`, {
    clientid, username, ipaddress: '10.0.0.1', connected_at: NOW - 1000, ts: NOW, ...(kind === 'disconnected' && { reason: 'normal', disconnected_at: NOW }),
  }, { qos: 0 });

  test('service users are never devices; a gateway user\'s client only once it is one; other logins are devices', () => {
    const { ingest, directory, log } = memoryIngest({ serviceUsers: ['monitor'], gatewayUsers: ['gateway'], registry: 'devices:\n  reg-1: {}\n' });
    assert.equal(ingest.accept(emqx('ops-probe', 'monitor')), undefined);
    assert.equal(ingest.accept(emqx('gateway-healthcheck-0a1b2c3d', 'gateway')), undefined);
    assert.equal(ingest.accept(emqx('gateway-healthcheck-0a1b2c3d', 'gateway', 'disconnected')), undefined);
    assert.equal(ingest.accept(emqx('reg-1', 'gateway')), undefined); // in the registry
    assert.equal(ingest.accept(message('sensors/yard/sensor-7/telemetry', { t: 1 })), undefined);
    assert.equal(ingest.accept(emqx('sensor-7', 'gateway')), undefined); // has sent telemetry
    assert.equal(ingest.accept(emqx('dev-001', 'dev-001')), undefined); // its own login
    assert.deepEqual([...directory.liveness.entries()].map(([device]) => device).sort(), ['dev-001', 'reg-1', 'sensor-7']);
    const presenceDevices = log.lines.filter((line) => line.startsWith('device_presence')).map((line) => /device=([^,]+)/.exec(line)![1]);
    assert.deepEqual(presenceDevices.sort(), ['dev-001', 'reg-1', 'sensor-7']);
  });

  test('a gateway device\'s connected, held until its birth message proves it a device, is written even though the birth is newer', async () => {
    const { ingest, directory, log } = memoryIngest({ gatewayUsers: ['gateway'], holdMs: 60_000 });
    assert.equal(ingest.accept(emqx('sensor-9', 'gateway')), undefined);
    assert.equal(log.lines.length, 0, 'held');
    await ingest.accept(message('sensors/yard/sensor-9/status', 'online', { receivedAtMs: NOW + 500 }));
    assert.deepEqual(log.lines.map((line) => /source=(\w+) online=(\d)i/.exec(line)!.slice(1).join(' ')).sort(), ['emqx 1', 'lwt 1']);
    assert.deepEqual([directory.liveness.get('sensor-9')!.online, directory.liveness.get('sensor-9')!.sinceMs], [true, NOW - 1000]);
    await ingest.flushHeldPresence();
  });
});

describe('the directory file keeps liveness', () => {
  const registry = parseRegistry('d.yaml', 'devices: {}\n');
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-liveness-'));
    file = join(dir, 'devices.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('saved and loaded: every time kept', async () => {
    const first = new DeviceDirectory(registry, file, silent);
    first.liveness.seen('tel', NOW - 5000, NOW);
    first.liveness.seen('tel', NOW - 9000, NOW);
    first.liveness.presence('off', false, NOW - 90 * MINUTE, 'emqx', NOW);
    await first.save();
    const second = new DeviceDirectory(registry, file, silent);
    // Everything but firstState, which is not saved (late events never move since after a restart).
    const kept = (directory: DeviceDirectory) => [...directory.liveness.entries()].map(([device, { firstState: _firstState, ...entry }]) => [device, entry]);
    assert.deepEqual(kept(second), kept(first));
    assert.equal(kept(second).length, 2);
  });

  test('a file in the format from before liveness loads: statuses become presence, since and last seen at their time', async () => {
    writeFileSync(file, JSON.stringify({ locations: { 'dev-a': 'lab', 'dev-b': 'yard' }, status: { 'dev-a': { online: false, atMs: NOW - 3600_000 } } }));
    const directory = new DeviceDirectory(registry, file, silent);
    assert.deepEqual([...directory.liveness.entries()].map(([device, entry]) => [device, { ...entry }]), [
      ['dev-a', { lastSeenMs: NOW - 3600_000, firstSeenMs: NOW - 3600_000, ownData: true, online: false, sinceMs: NOW - 3600_000, presenceAtMs: NOW - 3600_000, source: 'lwt', firstState: true }],
    ]);
    assert.equal(directory.tagsFor('dev-b').location, 'yard');
    await directory.save();
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { liveness: Record<string, unknown> };
    assert.deepEqual(saved.liveness, { 'dev-a': [NOW - 3600_000, NOW - 3600_000, 0, NOW - 3600_000, NOW - 3600_000, 'lwt', 1] });
  });

  test('a damaged liveness entry is skipped, the others load', () => {
    writeFileSync(file, JSON.stringify({ locations: {}, status: {}, liveness: { good: [NOW, NOW, -1, NOW, 0, 'none'], bad: [NOW, 'x'], worse: [NOW, NOW, 2, NOW, 0, 'none'], odd: [NOW, NOW, 1, NOW, NOW, 'carrier-pigeon'] } }));
    const directory = new DeviceDirectory(registry, file, silent);
    assert.deepEqual([...directory.liveness.entries()].map(([device]) => device), ['good']);
  });
});

describe('liveness settings', () => {
  test('defaults: 60 s ticks, 120 s lag, forget after 30 days; gateway and service users', () => {
    const config = loadConfig({}, noFiles);
    assert.deepEqual(config.liveness, { intervalMs: 60_000, maxLagMs: 120_000, forgetAfterMs: 30 * 86_400_000, troubleSilentAfterMs: 300_000, sharedGroup: false });
    assert.equal(loadConfig({ MQTT_SHARED_GROUP: 'ingestors' }, noFiles).liveness.sharedGroup, true);
    assert.deepEqual([config.devices.serviceUsers, config.devices.gatewayUsers], [['monitor', 'commander'], ['gateway']]);
    assert.deepEqual(loadConfig({ MQTT_USERNAME: 'ingest-bot' }, noFiles).devices.serviceUsers, ['monitor', 'commander', 'ingest-bot']);
  });

  test('DEVICE_FORGET_AFTER takes units and off', () => {
    assert.equal(loadConfig({ DEVICE_FORGET_AFTER: '12h' }, noFiles).liveness.forgetAfterMs, 12 * 3_600_000);
    assert.equal(loadConfig({ DEVICE_FORGET_AFTER: '90m' }, noFiles).liveness.forgetAfterMs, 90 * MINUTE);
    assert.equal(loadConfig({ DEVICE_FORGET_AFTER: 'off' }, noFiles).liveness.forgetAfterMs, undefined);
  });

  for (const [env, message] of [
    [{ DEVICE_STATE_INTERVAL_S: '0' }, 'DEVICE_STATE_INTERVAL_S="0": expected a whole number from 1 to 3600'],
    [{ DEVICE_STATE_INTERVAL_S: '1.5' }, 'DEVICE_STATE_INTERVAL_S="1.5": expected a whole number from 1 to 3600'],
    [{ DEVICE_FORGET_AFTER: '30' }, 'DEVICE_FORGET_AFTER="30": expected a duration with its unit (ms, s, m, h, d), e.g. 30d or 12h, from 60 s to 3650 d, or off'],
    [{ DEVICE_FORGET_AFTER: '10s' }, 'DEVICE_FORGET_AFTER="10s": expected a duration with its unit (ms, s, m, h, d), e.g. 30d or 12h, from 60 s to 3650 d, or off'],
    [{ PRESENCE_EMQX_GATEWAY_USERS: 'gateway,monitor' }, 'PRESENCE_EMQX_GATEWAY_USERS="gateway,monitor": expected no user that is also a service user (PRESENCE_EMQX_SERVICE_USERS or MQTT_USERNAME): monitor'],
  ] as const) {
    test(`refused: ${JSON.stringify(env)}`, () => {
      assert.throws(() => loadConfig(env, noFiles), (error: unknown) => error instanceof ConfigError && error.message === message);
    });
  }

  test('a shared group shares telemetry and Sparkplug data; presence is subscribed by every member', () => {
    assert.deepEqual(sharedSubscriptions(['sensors/+/+/telemetry', 'sensors/+/+/status', 'spBv1.0/#', '$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/+/disconnected'], 'g'), [
      '$share/g/sensors/+/+/telemetry',
      'sensors/+/+/status',
      'spBv1.0/+/NBIRTH/#', 'spBv1.0/+/NDEATH/#', 'spBv1.0/+/DBIRTH/#', 'spBv1.0/+/DDEATH/#', '$share/g/spBv1.0/+/NDATA/#', '$share/g/spBv1.0/+/DDATA/#',
      '$SYS/brokers/+/clients/+/connected',
      '$SYS/brokers/+/clients/+/disconnected',
    ]);
    assert.deepEqual(loadConfig({ MQTT_SHARED_GROUP: 'g', PRESENCE_EMQX: 'true' }, noFiles).mqtt.topics, [
      '$share/g/sensors/+/+/telemetry', 'sensors/+/+/status', '$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/+/disconnected',
    ]);
  });
});

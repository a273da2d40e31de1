/**
 * The presence path through Ingest itself (the production path), with an
 * in-memory log: retained statuses that repeat what is known are not news;
 * EMQX events of devices with no known location wait for one, briefly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import type { InboundMessage } from '../../ingestor/contracts.ts';
import type { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import type { Ingest } from '../../ingestor/pipeline/ingest.ts';
import type { PipelineStats } from '../../ingestor/pipeline/stats.ts';
import type { PresenceEvent } from '../../ingestor/presence/event.ts';
import { PresenceHold } from '../../ingestor/presence/hold.ts';
import { judgeRetainedStatus } from '../../ingestor/presence/retained.ts';
import { inboundMessage, memoryIngest } from '../harness/memory-ingest.ts';

const NOW = 1732280000000;
const DAY = 24 * 3_600_000;

describe('judgeRetainedStatus', () => {
  const known = { online: false, atMs: NOW - 60_000 };
  for (const [what, knownState, event, verdict] of [
    ['nothing known: news', undefined, { online: false, atMs: NOW }, 'news'],
    ['no payload time, same state: known', known, { online: false, atMs: NOW }, 'known'],
    ['no payload time, other state: news', known, { online: true, atMs: NOW }, 'news'],
    ['payload time equal to the known one: known', known, { online: false, atMs: NOW - 60_000, timeFromPayload: true }, 'known'],
    ['payload time older than the known one: known', known, { online: true, atMs: NOW - 90_000, timeFromPayload: true }, 'known'],
    ['payload time newer, same state (it went offline again while we were away): news', known, { online: false, atMs: NOW - 1000, timeFromPayload: true }, 'news'],
  ] as const) {
    test(what, () => assert.equal(judgeRetainedStatus(knownState, event), verdict));
  }
});

describe('PresenceHold', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW }));
  afterEach(() => mock.timers.reset());
  const event = (device: string, atMs = NOW): PresenceEvent => ({ device, source: 'emqx', online: true, atMs, reason: 'connected' });

  test('hands back a device\'s events in order; expires the rest after holdMs, oldest first', () => {
    const expired: string[][] = [];
    const hold = new PresenceHold({ holdMs: 5000, maxEvents: 10, onExpire: (events) => expired.push(events.map((e) => `${e.device}@${e.atMs - NOW}`)) });
    hold.hold(event('a', NOW));
    mock.timers.tick(1000);
    hold.hold(event('b', NOW + 1000));
    hold.hold(event('a', NOW + 1001));
    assert.equal(hold.size, 3);
    mock.timers.tick(3999);
    assert.deepEqual(expired, []);
    mock.timers.tick(1);
    assert.deepEqual(expired, [['a@0', 'a@1001']], 'a device\'s deadline is its first event\'s');
    assert.deepEqual(hold.take('b').map((e) => e.atMs), [NOW + 1000]);
    mock.timers.tick(10_000);
    assert.deepEqual(expired, [['a@0', 'a@1001']]);
    assert.equal(hold.size, 0);
  });

  test('bounded: says false when full; takeAll empties it', () => {
    const hold = new PresenceHold({ holdMs: 5000, maxEvents: 2, onExpire: () => assert.fail('nothing expires') });
    assert.equal(hold.hold(event('a')), true);
    assert.equal(hold.hold(event('b')), true);
    assert.equal(hold.hold(event('c')), false);
    assert.deepEqual(hold.takeAll().map((e) => e.device), ['a', 'b']);
    assert.equal(hold.size, 0);
    mock.timers.tick(10_000);
  });

  test('rejects a non-positive holdMs or maxEvents, echoing the value', () => {
    assert.throws(() => new PresenceHold({ holdMs: 0, maxEvents: 1, onExpire: () => {} }), /holdMs must be a positive whole number, got 0/);
    assert.throws(() => new PresenceHold({ holdMs: 1, maxEvents: -1, onExpire: () => {} }), /maxEvents must be a positive whole number, got -1/);
  });
});

interface Harness {
  readonly ingest: Ingest;
  readonly lines: string[];
  readonly stats: PipelineStats;
  readonly directory: DeviceDirectory;
}

function harness(options: { holdMs?: number; registry?: string; directoryFile?: string } = {}): Harness {
  const { ingest, log, stats, directory } = memoryIngest({ ...options, holdMs: options.holdMs ?? 5000, emqxPresence: true, sparkplug: false, bounds: { maxPayloadBytes: 65536, maxFutureMs: DAY } });
  return { ingest, lines: log.lines, stats, directory };
}

const msg = (topic: string, payload: string | object, extra: Partial<InboundMessage> = {}): InboundMessage => inboundMessage(topic, payload, Date.now(), extra);
const emqxConnected = (clientid: string, at: number): InboundMessage =>
  msg(`$SYS/brokers/emqx@n/clients/${clientid}/connected`, { clientid, ipaddress: '10.0.0.9', connected_at: at, ts: at }, { qos: 0 });

describe('Ingest: retained status', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-presence-ingest-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a retained offline re-sent after restarts is written once, with its payload time; a changed one is news', async () => {
    const file = join(dir, 'devices.json');
    const retainedOffline = () => msg('sensors/lab/dev-1/status', { online: false, ts: NOW - 3_600_000 }, { retained: true, qos: 1 });
    const first = harness({ directoryFile: file });
    await first.ingest.accept(retainedOffline());
    assert.deepEqual(first.lines, [`device_presence,device=dev-1,group=unknown,location=lab,source=lwt online=0i,event="disconnected",reason="status" ${NOW - 3_600_000}`]);
    await first.directory.save();

    for (const restart of [1, 2]) {
      const next = harness({ directoryFile: file });
      await next.ingest.accept(retainedOffline());
      assert.deepEqual(next.lines, [], `restart ${restart}`);
      assert.equal(next.stats.presenceIgnored, 1);
      await next.directory.save();
    }

    // While the ingestor was away the device came back and went again: a newer time is news.
    const later = harness({ directoryFile: file });
    await later.ingest.accept(msg('sensors/lab/dev-1/status', { online: false, ts: NOW - 60_000 }, { retained: true, qos: 1 }));
    assert.equal(later.lines.length, 1);
    assert.match(later.lines[0]!, / 1732279940000$/);
  });

  test('a retained state without a time: recorded once at the receive time, then known across restarts', async () => {
    const file = join(dir, 'devices.json');
    const first = harness({ directoryFile: file });
    await first.ingest.accept(msg('sensors/lab/dev-2/status', 'offline', { retained: true, receivedAtMs: NOW }));
    assert.deepEqual(first.lines, [`device_presence,device=dev-2,group=unknown,location=lab,source=lwt online=0i,event="disconnected",reason="status" ${NOW}`]);
    await first.directory.save();
    const second = harness({ directoryFile: file });
    await second.ingest.accept(msg('sensors/lab/dev-2/status', 'offline', { retained: true, receivedAtMs: NOW + 60_000 }));
    assert.deepEqual(second.lines, []);
    // It came back while we were away: the retained "online" differs from what is known.
    await second.ingest.accept(msg('sensors/lab/dev-2/status', 'online', { retained: true, receivedAtMs: NOW + 61_000 }));
    assert.equal(second.lines.length, 1);
    assert.match(second.lines[0]!, /online=1i.* 1732280061000$/);
  });

  test('live (not retained) status messages are always events, even when they repeat the state', async () => {
    const { ingest, lines } = harness();
    await ingest.accept(msg('sensors/lab/dev-3/status', 'online', { receivedAtMs: NOW }));
    await ingest.accept(msg('sensors/lab/dev-3/status', 'online', { receivedAtMs: NOW + 1000 }));
    assert.equal(lines.length, 2);
  });
});

describe('Ingest: EMQX events wait for a location', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW }));
  afterEach(() => mock.timers.reset());

  test('a first connected is held until telemetry names the location, then written with it', async () => {
    const { ingest, lines } = harness();
    await ingest.accept(emqxConnected('dev-1', NOW));
    assert.deepEqual(lines, []);
    await ingest.accept(msg('sensors/hall-3/dev-1/telemetry', { temperature: 21.5 }, { qos: 1 }));
    assert.deepEqual(lines, [
      `telemetry,device=dev-1,location=hall-3 temperature=21.5 ${NOW}`,
      `device_presence,device=dev-1,group=unknown,location=hall-3,source=emqx online=1i,event="connected",reason="connected",ip="10.0.0.9" ${NOW}`,
    ]);
    // Known now: the next event is written at once.
    await ingest.accept(msg('$SYS/brokers/emqx@n/clients/dev-1/disconnected', { clientid: 'dev-1', connected_at: NOW, disconnected_at: NOW + 5, reason: 'normal' }, { qos: 0 }));
    assert.equal(lines.length, 3);
    assert.match(lines[2]!, /location=hall-3.*reason="normal"/);
  });

  test('a status birth names the location too; the registry needs no wait', async () => {
    const { ingest, lines } = harness({ registry: 'devices:\n  reg-1: { location: plant, group: g1 }\n' });
    await ingest.accept(emqxConnected('reg-1', NOW));
    assert.equal(lines.length, 1, 'registry location known: not held');
    assert.match(lines[0]!, /device=reg-1,group=g1,location=plant/);
    await ingest.accept(emqxConnected('dev-2', NOW));
    await ingest.accept(msg('sensors/roof/dev-2/status', 'online', { qos: 1 }));
    assert.deepEqual(lines.slice(1).map((line) => line.split(' ')[0]), [
      'device_presence,device=dev-2,group=unknown,location=roof,source=lwt',
      'device_presence,device=dev-2,group=unknown,location=roof,source=emqx',
    ]);
  });

  test('on timeout the event is written with whatever is known then; at shutdown likewise', async () => {
    const { ingest, lines, stats } = harness({ holdMs: 3000 });
    await ingest.accept(emqxConnected('quiet', NOW));
    mock.timers.tick(2999);
    assert.deepEqual(lines, []);
    mock.timers.tick(1);
    await Promise.resolve();
    assert.deepEqual(lines, [`device_presence,device=quiet,group=unknown,location=unknown,source=emqx online=1i,event="connected",reason="connected",ip="10.0.0.9" ${NOW}`]);
    await ingest.accept(emqxConnected('late', NOW + 3000));
    await ingest.flushHeldPresence();
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /device=late,group=unknown,location=unknown/);
    assert.equal(stats.pointsAccepted, 2);
  });

  test('a QoS 1 presence event is never held (it must be logged before it is acknowledged); PRESENCE_HOLD_MS=0 holds nothing', async () => {
    const qos1 = harness();
    await qos1.ingest.accept({ ...emqxConnected('dev-9', NOW), qos: 1 });
    assert.equal(qos1.lines.length, 1);
    const off = harness({ holdMs: 0 });
    await off.ingest.accept(emqxConnected('dev-9', NOW));
    assert.equal(off.lines.length, 1);
    assert.match(off.lines[0]!, /location=unknown/);
  });
});

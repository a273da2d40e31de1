/**
 * Device liveness under hostile or awkward input (the review of issue 18):
 * one unwritable device never stops `device_state` for the fleet; in a
 * shared group a member speaks for a device only with data of the device's
 * own; a retained status without a time of its own is no sign of life; a
 * payload time ahead of ours never moves last seen or presence into the
 * future. docs/liveness.md says why.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import type { InboundMessage } from '../../ingestor/contracts.ts';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { parseRegistry } from '../../ingestor/directory/registry.ts';
import { LagCounter } from '../../ingestor/liveness/catch-up.ts';
import { LivenessTicker } from '../../ingestor/liveness/ticker.ts';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';
import { emptyStats, statsPoint } from '../../ingestor/pipeline/stats.ts';
import { inboundMessage, memoryIngest, MemoryLog } from '../harness/memory-ingest.ts';

/** A whole minute, so that 60 s ticks fall on it. */
const NOW = 1732279980000;
const HOUR = 3_600_000;
const silent = pino({ level: 'silent' });

const message = (topic: string, payload: unknown, extra: Partial<InboundMessage> = {}): InboundMessage => inboundMessage(topic, payload, NOW, { qos: 1, ...extra });

const emqxConnected = (clientid: string, atMs: number): InboundMessage => message(`$SYS/brokers/n/clients/${clientid}/connected`, {
  clientid, username: clientid, ipaddress: '10.0.0.1', connected_at: atMs, ts: atMs,
}, { qos: 0, receivedAtMs: atMs });

/** One tick of a ticker over `directory` at `nowMs`: the lines and the stats. */
async function tickOnce(directory: DeviceDirectory, options: { instance?: string; sharedGroup?: boolean; log?: Logger; nowMs?: number } = {}) {
  const wal = new MemoryLog();
  const stats = emptyStats();
  const ticker = new LivenessTicker({
    intervalMs: 60_000, forgetAfterMs: undefined, troubleSilentAfterMs: 300_000, instance: options.instance ?? 'i1', directory, wal, canAppend: () => true, stats, lag: new LagCounter(60_000),
    broker: { connected: true, connections: 0 }, log: options.log ?? silent, now: () => options.nowMs ?? NOW, sharedGroup: options.sharedGroup ?? false,
  });
  const outcome = await ticker.tick();
  return { outcome, lines: wal.lines, stats, ticker };
}

/** The device_state lines only (a tick writes device_trouble too). */
const stateLines = (lines: readonly string[]): string[] => lines.filter((line) => line.startsWith('device_state,'));
const lineOf = (lines: readonly string[], device: string): string | undefined => lines.find((line) => line.startsWith(`device_state,device=${device},`));

describe('one unwritable device never stops device_state for the fleet', () => {
  test('a rejected telemetry message (control character in the location or the device) leaves nothing in the book or the directory', async () => {
    const { ingest, directory, rejects } = memoryIngest();
    assert.equal(ingest.accept(message('sensors/site-1/good/telemetry', { t: 1 })), undefined);
    await ingest.accept(message('sensors/lo\u0007c/dev/telemetry', { t: 1 }));
    await ingest.accept(message('sensors/site-1/ba\u0001d/telemetry', { t: 1 }));
    assert.equal(rejects.total, 2);
    assert.equal(directory.liveness.has('dev'), false);
    assert.equal(directory.whereIs('dev').location, undefined);
    assert.equal(directory.liveness.has('ba\u0001d'), false);
    const { outcome, lines } = await tickOnce(directory);
    assert.equal(outcome.kind, 'written');
    assert.deepEqual(stateLines(lines).map((line) => line.split(' ')[0]), ['device_state,device=good,instance=i1,location=site-1']);
  });

  test('a rejected status or EMQX event leaves nothing in the book or the directory', async () => {
    const { ingest, directory, rejects } = memoryIngest();
    await ingest.accept(message('sensors/lo\u0007c/dev/status', 'online'));
    await ingest.accept(emqxConnected('ba\u0001d', NOW));
    assert.equal(rejects.total, 2);
    assert.deepEqual([directory.liveness.has('dev'), directory.whereIs('dev').location, directory.liveness.has('ba\u0001d')], [false, undefined, false]);
  });

  test('the ticker skips a device whose point cannot be written, logs it once, counts it; the others are written and the directory saved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-review-'));
    try {
      const file = join(dir, 'devices.json');
      const directory = new DeviceDirectory(parseRegistry('d.yaml', 'devices: {}\n'), file, silent);
      directory.liveness.seen('good', NOW - 5000, NOW - 5000);
      directory.liveness.seen('ba\u0001d', NOW - 5000, NOW - 5000);
      const logged: Record<string, unknown>[] = [];
      const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
      const wal = new MemoryLog();
      const stats = emptyStats();
      const ticker = new LivenessTicker({
        intervalMs: 60_000, forgetAfterMs: undefined, troubleSilentAfterMs: 300_000, instance: 'i1', directory, wal, canAppend: () => true, stats, lag: new LagCounter(60_000), broker: { connected: true, connections: 0 }, log, now: () => NOW, sharedGroup: false,
      });
      assert.deepEqual(await ticker.tick(), { kind: 'written', tickMs: NOW, devices: 1, forgotten: [], inTrouble: 0 });
      assert.deepEqual(await ticker.tick(), { kind: 'written', tickMs: NOW, devices: 1, forgotten: [], inTrouble: 0 });
      assert.deepEqual(stateLines(wal.lines).map((line) => line.split(' ')[0]), ['device_state,device=good,instance=i1', 'device_state,device=good,instance=i1']);
      assert.equal(stats.deviceStateInvalid, 2);
      assert.equal(stats.deviceStateTicks, 2);
      assert.deepEqual(logged.map((line) => [line.level, line.device]), [[40, 'ba\u0001d']]);
      assert.match(encodeStats(stats), /device_state_invalid=2/);
      await directory.save(); // the tick's own save runs off the event loop; this one is queued after it
      assert.ok(Object.hasOwn((JSON.parse(readFileSync(file, 'utf8')) as { liveness: object }).liveness, 'good'), 'saved');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a directory file that already holds an unwritable device or location loads without them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-review-'));
    try {
      const file = join(dir, 'devices.json');
      writeFileSync(file, JSON.stringify({
        locations: { dev: 'lo\u0007c', good: 'lab' },
        status: { 'ba\u0001d': { online: false, atMs: NOW } },
        liveness: { good: [NOW, NOW, -1, NOW, 0, 'none'], 'ba\u0001d': [NOW, NOW, 0, NOW, NOW, 'lwt'], dev: [NOW, NOW, -1, NOW, 0, 'none'] },
      }));
      const directory = new DeviceDirectory(parseRegistry('d.yaml', 'devices: {}\n'), file, silent);
      assert.deepEqual([...directory.liveness.entries()].map(([device]) => device).sort(), ['dev', 'good']);
      assert.deepEqual([directory.whereIs('dev').location, directory.whereIs('good').location, directory.lastStatus('ba\u0001d')], [undefined, 'lab', undefined]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The `ingestor_stats` line with these counters. */
function encodeStats(stats: ReturnType<typeof emptyStats>): string {
  return encodePoint(statsPoint('i1', stats, { rejects: 0, walBytes: 0, walUnreadBytes: 0, brokerConnected: true, influxUp: true }, NOW));
}

describe('several ingestors in one shared group: the member with the data speaks for the device', () => {
  /** dev-1 connected an hour ago; both members get EMQX's event, only A its telemetry (hash_clientid dispatch). */
  const twoMembers = async (registry?: string) => {
    const a = memoryIngest(registry === undefined ? {} : { registry });
    const b = memoryIngest(registry === undefined ? {} : { registry });
    await a.ingest.accept(emqxConnected('dev-1', NOW - HOUR));
    await b.ingest.accept(emqxConnected('dev-1', NOW - HOUR));
    await a.ingest.accept(message('sensors/site-1/dev-1/telemetry', { t: 1 }, { receivedAtMs: NOW - 5000 }));
    return { a, b };
  };

  test('a member with only EMQX events for a device writes nothing for it; the one with its telemetry writes it, with its location', async () => {
    const { a, b } = await twoMembers();
    const fromA = await tickOnce(a.directory, { instance: 'A', sharedGroup: true });
    const fromB = await tickOnce(b.directory, { instance: 'B', sharedGroup: true });
    assert.match(lineOf(fromA.lines, 'dev-1') ?? '', /^device_state,device=dev-1,instance=A,location=site-1 state="online",online=1i,offline_s=0i,silent_s=5i,/);
    assert.deepEqual(stateLines(fromB.lines), []);
    assert.deepEqual(fromB.lines.map((line) => line.split(' ')[0]), ['device_trouble,instance=B'], 'only its heartbeat');
    assert.equal(fromB.outcome.kind, 'written');
  });

  test('without a shared group nothing changes: EMQX events alone make a device_state point', async () => {
    const { b } = await twoMembers();
    const { lines } = await tickOnce(b.directory, { instance: 'B', sharedGroup: false });
    assert.match(lineOf(lines, 'dev-1') ?? '', /^device_state,device=dev-1,instance=B state="online",online=1i,offline_s=0i,silent_s=3600i,/);
  });

  test('the registry\'s location lets a member speak with EMQX events alone: the same label set as the member with the data', async () => {
    const { a, b } = await twoMembers('devices:\n  dev-1: { location: site-1, group: g }\n');
    const tags = (lines: readonly string[]) => (lineOf(lines, 'dev-1') ?? '').split(' ')[0]!.replace(/instance=\w+,?/, '');
    const fromA = await tickOnce(a.directory, { instance: 'A', sharedGroup: true });
    const fromB = await tickOnce(b.directory, { instance: 'B', sharedGroup: true });
    assert.equal(tags(fromB.lines), 'device_state,device=dev-1,group=g,location=site-1');
    assert.equal(tags(fromA.lines), tags(fromB.lines));
  });

  test('a status topic (subscribed by every member) is the device\'s own: every member speaks, with its location', async () => {
    const { b } = await twoMembers();
    await b.ingest.accept(message('sensors/site-1/dev-1/status', { online: true, ts: NOW - HOUR }));
    const { lines } = await tickOnce(b.directory, { instance: 'B', sharedGroup: true });
    assert.match(lineOf(lines, 'dev-1') ?? '', /^device_state,device=dev-1,instance=B,location=site-1 state="online"/);
  });

  test('what made a device speakable is kept in the directory file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-review-'));
    try {
      const file = join(dir, 'devices.json');
      const first = new DeviceDirectory(parseRegistry('d.yaml', 'devices: {}\n'), file, silent);
      first.liveness.presence('emqx-only', true, NOW, 'emqx', NOW);
      first.liveness.seen('emqx-only', NOW, NOW, false);
      first.liveness.seen('talks', NOW, NOW);
      await first.save();
      const second = new DeviceDirectory(parseRegistry('d.yaml', 'devices: {}\n'), file, silent);
      assert.deepEqual([second.liveness.get('emqx-only')?.ownData, second.liveness.get('talks')?.ownData], [false, true]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a retained status without a time of its own is no sign of life', () => {
  test('a fresh member gets a retained "offline": offline since its first look, but no last seen, no silent_s', async () => {
    const { ingest, directory } = memoryIngest();
    assert.equal(ingest.accept(message('sensors/site-1/dev-9/status', 'offline', { retained: true })), undefined);
    const entry = directory.liveness.get('dev-9');
    assert.deepEqual([entry?.online, entry?.sinceMs, entry?.lastSeenMs], [false, NOW, undefined]);
    const { lines } = await tickOnce(directory, { nowMs: NOW + 5 * 60_000 });
    assert.equal(lineOf(lines, 'dev-9'), `device_state,device=dev-9,instance=i1,location=site-1 state="offline",online=0i,offline_s=300i,since=${NOW}i,source="lwt" ${NOW + 5 * 60_000}`);
  });

  test('its next live message gives it a last seen', async () => {
    const { ingest, directory } = memoryIngest();
    await ingest.accept(message('sensors/site-1/dev-9/status', 'offline', { retained: true }));
    await ingest.accept(message('sensors/site-1/dev-9/status', 'online', { receivedAtMs: NOW + 1000 }));
    assert.deepEqual([directory.liveness.get('dev-9')?.online, directory.liveness.get('dev-9')?.lastSeenMs], [true, NOW + 1000]);
  });

  test('the forget rule counts such a device\'s silence from its first look', async () => {
    const { ingest, directory } = memoryIngest();
    await ingest.accept(message('sensors/site-1/dev-9/status', 'offline', { retained: true }));
    assert.deepEqual(directory.liveness.forget(NOW + 30 * 24 * HOUR, 30 * 24 * HOUR).map((f) => [f.device, f.silentMs]), [['dev-9', 30 * 24 * HOUR]]);
  });
});

describe('a payload time ahead of ours never moves the book into the future', () => {
  test('telemetry: last seen is the receive time, so silence counts from it', async () => {
    const { ingest, directory } = memoryIngest();
    await ingest.accept(message('sensors/a/f/telemetry', { t: 1, ts: NOW + 23 * HOUR }));
    assert.equal(directory.liveness.get('f')?.lastSeenMs, NOW);
    const { lines } = await tickOnce(directory, { nowMs: NOW + 10 * 60_000 });
    assert.match(lineOf(lines, 'f') ?? '', /silent_s=600i/);
  });

  test('a status from the future does not make the real last will stale', async () => {
    const { ingest, directory } = memoryIngest();
    await ingest.accept(message('sensors/a/g/status', { online: true, ts: NOW + 23 * HOUR }));
    await ingest.accept(message('sensors/a/g/status', 'offline', { receivedAtMs: NOW + 1000 }));
    const entry = directory.liveness.get('g');
    assert.deepEqual([entry?.online, entry?.sinceMs, entry?.lastSeenMs], [false, NOW + 1000, NOW + 1000]);
  });
});

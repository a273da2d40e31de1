/**
 * `device_trouble` (docs/liveness.md): who is in trouble at a tick, the
 * points (trouble, "left trouble", heartbeat) the ticker writes from the
 * in-memory book over several ticks, and the check that the rules' silence
 * limits are never below the ingestor's DEVICE_TROUBLE_SILENT_AFTER.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { checkSilenceLimits } from '../../grafana/src/generate.ts';
import { loadThresholds, parseThresholds, THRESHOLDS_FILE, ThresholdsError } from '../../grafana/src/thresholds.ts';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { parseRegistry } from '../../ingestor/directory/registry.ts';
import type { LivenessEntry } from '../../ingestor/liveness/book.ts';
import { LagCounter } from '../../ingestor/liveness/catch-up.ts';
import { LivenessTicker } from '../../ingestor/liveness/ticker.ts';
import { deviceTroublePoint, inTrouble, troubleHeartbeatPoint } from '../../ingestor/liveness/to-point.ts';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';
import { emptyStats } from '../../ingestor/pipeline/stats.ts';
import { INGESTOR } from '../../ingestor/settings.ts';
import { MemoryLog } from '../harness/memory-ingest.ts';
import { waitFor } from '../harness/process.ts';

const NOW = 1732279980000;
const MINUTE = 60_000;
const silent = pino({ level: 'silent' });
const entry = (over: Partial<LivenessEntry>): LivenessEntry => ({ lastSeenMs: NOW, firstSeenMs: NOW - 3600_000, ownData: true, online: undefined, sinceMs: NOW - 3600_000, presenceAtMs: 0, source: 'none', ...over });

describe('in trouble', () => {
  test('offline always; silent from the threshold on, with or without presence; a silence not known is no trouble', () => {
    assert.equal(inTrouble(entry({ online: false, sinceMs: NOW }), NOW, 5 * MINUTE), true, 'offline, even for 0 s');
    assert.equal(inTrouble(entry({ online: true, lastSeenMs: NOW - 5 * MINUTE }), NOW, 5 * MINUTE), true);
    assert.equal(inTrouble(entry({ online: true, lastSeenMs: NOW - 5 * MINUTE + 1 }), NOW, 5 * MINUTE), false);
    assert.equal(inTrouble(entry({ lastSeenMs: NOW - 6 * MINUTE }), NOW, 5 * MINUTE), true, 'unknown and silent');
    assert.equal(inTrouble(entry({ online: true, lastSeenMs: undefined }), NOW, 5 * MINUTE), false);
  });

  test('the points: a device in trouble, the one after it left, the heartbeat', () => {
    const off = entry({ online: false, sinceMs: NOW - 5400_000, lastSeenMs: NOW - 5400_000, source: 'lwt' });
    assert.equal(encodePoint(deviceTroublePoint('d-1', off, NOW, 'i1', { location: 'lab', group: 'g' })),
      `device_trouble,device=d-1,group=g,instance=i1,location=lab state="offline",online=0i,offline_s=5400i,silent_s=5400i,last_seen=${NOW - 5400_000}i,since=${NOW - 5400_000}i ${NOW}`);
    assert.equal(encodePoint(deviceTroublePoint('d-1', { ...off, online: true, lastSeenMs: NOW - 1000 }, NOW, 'i1', {}, true)),
      `device_trouble,device=d-1,instance=i1 state="online",online=1i,offline_s=0i,silent_s=0i,last_seen=${NOW - 1000}i,since=${NOW - 5400_000}i ${NOW}`);
    // A silence not known (a timeless retained status): silent_s 0, never missing (a missing field makes the rule's value nil).
    assert.match(encodePoint(deviceTroublePoint('d-2', entry({ online: false, lastSeenMs: undefined, sinceMs: NOW }), NOW, 'i1', {})), /state="offline",online=0i,offline_s=0i,silent_s=0i,since=/);
    assert.equal(encodePoint(troubleHeartbeatPoint('i1', NOW, 3, 1)), `device_trouble,instance=i1 online=1i,offline_s=0i,silent_s=0i,devices=3i,in_trouble=1i ${NOW}`);
  });
});

describe('the ticker writes device_trouble from the book', () => {
  /** A directory (kept in `file`, when given) and a ticker over it; `startMinutes`: the clock at the start. */
  const setup = (sharedGroup = false, file?: string, startMinutes = 0) => {
    const directory = new DeviceDirectory(parseRegistry('d.yaml', 'devices:\n  a: { location: lab, group: g1 }\n'), file, silent);
    const wal = new MemoryLog();
    let now = NOW + startMinutes * MINUTE;
    const ticker = new LivenessTicker({
      intervalMs: MINUTE, forgetAfterMs: 30 * MINUTE, troubleSilentAfterMs: 5 * MINUTE, instance: 'i1', directory, wal, canAppend: () => true, stats: emptyStats(), lag: new LagCounter(MINUTE),
      broker: { connected: true, connections: 0 }, log: silent, now: () => now, sharedGroup,
    });
    /** One tick at `minutes` after NOW: its device_trouble lines, without the time. */
    const tickAt = async (minutes: number): Promise<string[]> => {
      now = NOW + minutes * MINUTE;
      const from = wal.lines.length;
      assert.equal((await ticker.tick()).kind, 'written');
      return wal.lines.slice(from).filter((line) => line.startsWith('device_trouble,')).map((line) => line.replace(/ \d+$/, ''));
    };
    return { directory, tickAt };
  };

  test('silent from 5 minutes on, one "left trouble" point when it talks again, then nothing; the heartbeat every tick', async () => {
    const { directory, tickAt } = setup();
    directory.liveness.seen('a', NOW, NOW);
    directory.liveness.seen('b', NOW, NOW);
    const heartbeat = (devices: number, troubled: number) => `device_trouble,instance=i1 online=1i,offline_s=0i,silent_s=0i,devices=${devices}i,in_trouble=${troubled}i`;
    assert.deepEqual(await tickAt(4), [heartbeat(2, 0)]);
    directory.liveness.seen('b', NOW + 4 * MINUTE, NOW + 4 * MINUTE);
    assert.deepEqual(await tickAt(5), [
      `device_trouble,device=a,group=g1,instance=i1,location=lab state="unknown",online=-1i,offline_s=0i,silent_s=300i,last_seen=${NOW}i,since=${NOW}i`,
      heartbeat(2, 1),
    ]);
    assert.deepEqual((await tickAt(6))[0]!.match(/silent_s=\d+i/)?.[0], 'silent_s=360i');
    directory.liveness.seen('a', NOW + 6.5 * MINUTE, NOW + 6.5 * MINUTE);
    assert.deepEqual(await tickAt(7), [
      `device_trouble,device=a,group=g1,instance=i1,location=lab state="unknown",online=-1i,offline_s=0i,silent_s=0i,last_seen=${NOW + 6.5 * MINUTE}i,since=${NOW}i`,
      heartbeat(2, 0),
    ]);
    assert.deepEqual(await tickAt(8), [heartbeat(2, 0)], 'left trouble: no more points');
  });

  test('offline at once, with its duration; back online: one point with offline_s 0 and the new state', async () => {
    const { directory, tickAt } = setup();
    directory.liveness.seen('a', NOW, NOW);
    directory.liveness.presence('a', false, NOW - 90 * MINUTE, 'lwt', NOW);
    assert.match((await tickAt(0))[0]!, /^device_trouble,device=a,.* state="offline",online=0i,offline_s=5400i,silent_s=0i,/);
    directory.liveness.presence('a', true, NOW + 30_000, 'lwt', NOW + 30_000);
    directory.liveness.seen('a', NOW + 30_000, NOW + 30_000);
    assert.match((await tickAt(1))[0]!, /^device_trouble,device=a,.* state="online",online=1i,offline_s=0i,silent_s=0i,/);
  });

  test('a forgotten device that was in trouble gets its last point, state "forgotten", offline_s and silent_s 0', async () => {
    const { directory, tickAt } = setup();
    directory.liveness.seen('a', NOW, NOW);
    assert.equal((await tickAt(10)).length, 2);
    const lines = await tickAt(30);
    assert.match(lines[0]!, /^device_trouble,device=a,group=g1,instance=i1,location=lab state="forgotten",online=-1i,offline_s=0i,silent_s=0i,/);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /devices=0i,in_trouble=0i$/);
  });

  test('a device that left trouble while the ingestor was down gets its "left trouble" point at the first tick after the restart; one never in trouble gets none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trouble-'));
    try {
      const file = join(dir, 'directory.json');
      const before = setup(false, file);
      before.directory.liveness.seen('a', NOW, NOW);
      before.directory.liveness.seen('b', NOW, NOW);
      before.directory.liveness.seen('b', NOW + 5 * MINUTE, NOW + 5 * MINUTE);
      assert.match((await before.tickAt(6))[0]!, /^device_trouble,device=a,.*,silent_s=360i,/);
      // The tick's own save (a crash right after the tick keeps this file): the event is the file's rename into place.
      await waitFor('the tick\'s save', () => (existsSync(file) ? true : undefined), 10_000, 1);
      assert.deepEqual((JSON.parse(readFileSync(file, 'utf8')) as { troubled: unknown }).troubled, ['a']);

      // Down from minute 6 to 20; meanwhile `a` reported again (its message is read after the restart).
      const after = setup(false, file, 20);
      assert.deepEqual([...after.directory.troubled], ['a']);
      after.directory.liveness.seen('a', NOW + 19 * MINUTE, NOW + 20 * MINUTE);
      after.directory.liveness.seen('b', NOW + 19 * MINUTE, NOW + 20 * MINUTE);
      assert.deepEqual(await after.tickAt(20), [
        `device_trouble,device=a,group=g1,instance=i1,location=lab state="unknown",online=-1i,offline_s=0i,silent_s=0i,last_seen=${NOW + 19 * MINUTE}i,since=${NOW}i`,
        'device_trouble,instance=i1 online=1i,offline_s=0i,silent_s=0i,devices=2i,in_trouble=0i',
      ]);
      assert.deepEqual(await after.tickAt(21), ['device_trouble,instance=i1 online=1i,offline_s=0i,silent_s=0i,devices=2i,in_trouble=0i']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the saved list of devices in trouble: a file without it, or with damaged names, loads with those left out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trouble-'));
    try {
      const file = join(dir, 'directory.json');
      const load = (content: unknown) => {
        writeFileSync(file, JSON.stringify(content));
        return [...new DeviceDirectory(parseRegistry('d.yaml', 'devices: {}\n'), file, silent).troubled];
      };
      assert.deepEqual(load({ locations: {}, status: {}, liveness: {} }), []);
      assert.deepEqual(load({ liveness: {}, troubled: 'a' }), []);
      assert.deepEqual(load({ liveness: {}, troubled: ['a', 7, null, 'bad\nname', 'b'] }), ['a', 'b']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('in a shared group, a member with only EMQX events for a device writes no trouble for it, only its heartbeat', async () => {
    const { directory, tickAt } = setup(true);
    directory.liveness.seen('x', NOW - 20 * MINUTE, NOW - 20 * MINUTE, false);
    directory.liveness.presence('x', false, NOW - 20 * MINUTE, 'emqx', NOW - 20 * MINUTE);
    assert.deepEqual(await tickAt(0), ['device_trouble,instance=i1 online=1i,offline_s=0i,silent_s=0i,devices=0i,in_trouble=0i']);
  });
});

describe('silence limits and DEVICE_TROUBLE_SILENT_AFTER', () => {
  test('the shipped thresholds are at least the ingestor\'s default (5m)', () => {
    assert.equal(INGESTOR.DEVICE_TROUBLE_SILENT_AFTER.default, '5m');
    checkSilenceLimits(loadThresholds(), {});
  });

  test('a limit below it is refused by `npm run grafana`, naming the key, the value and the setting; a lower DEVICE_TROUBLE_SILENT_AFTER lets it through', () => {
    const low = parseThresholds(readFileSync(THRESHOLDS_FILE, 'utf8').replace('after_by_group: {}', 'after_by_group: { gateways: 3m }'));
    assert.throws(() => checkSilenceLimits(low, {}), (e: unknown) => e instanceof ThresholdsError && /^silence\.after_by_group\.gateways: 3m is below the ingestor's DEVICE_TROUBLE_SILENT_AFTER \(300 s\)/.test(e.message));
    checkSilenceLimits(low, { DEVICE_TROUBLE_SILENT_AFTER: '2m' });
  });
});

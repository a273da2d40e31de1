/**
 * Per-minute rollups in the stream (ingestor/rollups/, docs/data-model.md#rollups):
 * the pure book (min/max/sum/count per device and per location and group,
 * closing after the minute plus the grace, late points, the memory bound,
 * the heartbeat), the pipeline feeding it (enriched points, only once
 * logged), the ticker writing through the log, and the settings.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../../ingestor/config.ts';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';
import { float, str, type Point } from '../../ingestor/model/point.ts';
import { LATE_HORIZON_MS, MINUTE_MS, RollupBook, type RollupBookOptions } from '../../ingestor/rollups/book.ts';
import { emptyStats, statsPoint } from '../../ingestor/pipeline/stats.ts';
import { RollupTicker } from '../../ingestor/rollups/ticker.ts';
import { inboundMessage, memoryIngest, MemoryLog } from '../harness/memory-ingest.ts';

/** A whole minute. */
const T0 = 1732279980000;
const GRACE = 30_000;
const silent = pino({ level: 'silent' });

const options = (extra: Partial<RollupBookOptions> = {}): RollupBookOptions => ({ measurements: ['telemetry'], graceMs: GRACE, maxBuckets: 1000, instance: 'ing-1', ...extra });
const reading = (device: string, location: string, atMs: number, fields: Record<string, number>, group?: string): Point => ({
  measurement: 'telemetry',
  tags: { device, location, ...(group !== undefined && { group }) },
  fields: Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, float(value)])),
  timestampMs: atMs,
});
const lines = (points: readonly Point[]): string[] => points.map(encodePoint).sort();

describe('RollupBook', () => {
  test('min, max, sum and count per device and per (location, group), at the minute\'s start, tagged with the instance', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 20, humidity: 40 }, 'g'), T0 + 1_000);
    book.add(reading('d1', 'hall', T0 + 11_000, { temperature: 23.5, humidity: 50 }, 'g'), T0 + 11_000);
    book.add(reading('d1', 'hall', T0 + 21_000, { temperature: 18 }, 'g'), T0 + 21_000);
    book.add(reading('d2', 'hall', T0 + 5_000, { temperature: 30 }, 'g'), T0 + 5_000);
    book.add(reading('d3', 'roof', T0 + 5_000, { temperature: -4 }), T0 + 5_000);
    assert.deepEqual(lines(book.closeDue(T0 + MINUTE_MS + GRACE)), [
      `telemetry_1m,device=d1,group=g,instance=ing-1,location=hall temperature_min=18,temperature_max=23.5,temperature_sum=61.5,temperature_count=3i,humidity_min=40,humidity_max=50,humidity_sum=90,humidity_count=2i ${T0}`,
      `telemetry_1m,device=d2,group=g,instance=ing-1,location=hall temperature_min=30,temperature_max=30,temperature_sum=30,temperature_count=1i ${T0}`,
      `telemetry_1m,device=d3,instance=ing-1,location=roof temperature_min=-4,temperature_max=-4,temperature_sum=-4,temperature_count=1i ${T0}`,
      `telemetry_1m,instance=ing-1 devices=3i ${T0}`,
      `telemetry_location_1m,group=g,instance=ing-1,location=hall temperature_min=18,temperature_max=30,temperature_sum=91.5,temperature_count=4i,humidity_min=40,humidity_max=50,humidity_sum=90,humidity_count=2i ${T0}`,
      `telemetry_location_1m,instance=ing-1,location=roof temperature_min=-4,temperature_max=-4,temperature_sum=-4,temperature_count=1i ${T0}`,
    ].sort());
    assert.equal(book.openBuckets, 0);
    assert.equal(book.counters.added, 5);
  });

  test('a minute closes only once it has ended plus the grace, and no point of it arrived during the grace; oldest first', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0 + 59_000, { temperature: 1 }), T0 + 59_000);
    book.add(reading('d1', 'hall', T0 + MINUTE_MS + 1_000, { temperature: 2 }), T0 + MINUTE_MS + 1_000);
    assert.deepEqual(book.closeDue(T0 + MINUTE_MS + GRACE - 1), [], 'within the grace');
    // A late message of the first minute, arriving within its grace: it counts, and holds the minute open another grace.
    book.add(reading('d1', 'hall', T0 + 30_000, { temperature: 9 }), T0 + MINUTE_MS + 20_000);
    assert.deepEqual(book.closeDue(T0 + MINUTE_MS + GRACE), [], 'a point of it arrived less than the grace ago');
    const first = book.closeDue(T0 + MINUTE_MS + 20_000 + GRACE);
    assert.ok(first.some((p) => encodePoint(p) === `telemetry_1m,device=d1,instance=ing-1,location=hall temperature_min=1,temperature_max=9,temperature_sum=10,temperature_count=2i ${T0}`), first.map(encodePoint).join('\n'));
    assert.ok(first.every((p) => p.timestampMs === T0), 'the second minute is not due yet');
    const second = book.closeDue(T0 + 2 * MINUTE_MS + GRACE);
    assert.ok(second.length > 0 && second.every((p) => p.timestampMs === T0 + MINUTE_MS));
  });

  test('a point of a minute already closed is late: counted, not rolled up (it would overwrite the written minute with a partial one)', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 1 }), T0 + 1_000);
    book.closeDue(T0 + MINUTE_MS + GRACE);
    book.add(reading('d1', 'hall', T0 + 2_000, { temperature: 100 }), T0 + MINUTE_MS + GRACE + 1);
    assert.equal(book.counters.late, 1);
    assert.equal(book.openBuckets, 0);
    assert.deepEqual(book.closeAll(), []);
  });

  test('a repeat of the device\'s previous point (same series and time: InfluxDB keeps one point) counts once; its new fields count, as InfluxDB merges them', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 20 }), T0 + 1_000);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 20 }), T0 + 1_500);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 20, humidity: 40 }), T0 + 1_600);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 20, humidity: 40 }), T0 + 1_700);
    book.add(reading('d1', 'hall', T0 + 11_000, { temperature: 22 }), T0 + 11_000);
    assert.deepEqual(lines(book.closeDue(T0 + MINUTE_MS + GRACE)), [
      `telemetry_1m,device=d1,instance=ing-1,location=hall temperature_min=20,temperature_max=22,temperature_sum=42,temperature_count=2i,humidity_min=40,humidity_max=40,humidity_sum=40,humidity_count=1i ${T0}`,
      `telemetry_1m,instance=ing-1 devices=1i ${T0}`,
      `telemetry_location_1m,instance=ing-1,location=hall temperature_min=20,temperature_max=22,temperature_sum=42,temperature_count=2i,humidity_min=40,humidity_max=40,humidity_sum=40,humidity_count=1i ${T0}`,
    ].sort());
    assert.equal(book.counters.repeated, 3);
    assert.equal(book.counters.added, 3, 'the first, the one with humidity, the later reading');
  });

  test('the same time in another series (a tag more, another location) is another raw point: counted; a repeat after another point of the device is counted again', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 1 }), T0 + 1_000);
    book.add({ ...reading('d1', 'hall', T0 + 1_000, { temperature: 2 }), tags: { device: 'd1', location: 'hall', probe: 'b' } }, T0 + 1_000);
    book.add(reading('d1', 'roof', T0 + 1_000, { temperature: 3 }), T0 + 1_000);
    book.add(reading('d1', 'roof', T0 + 2_000, { temperature: 4 }), T0 + 2_000);
    book.add(reading('d1', 'roof', T0 + 1_000, { temperature: 3 }), T0 + 2_500);
    const device = lines(book.closeDue(T0 + MINUTE_MS + GRACE)).find((line) => line.startsWith('telemetry_1m,device=d1'));
    assert.match(device!, / temperature_min=1,temperature_max=4,temperature_sum=13,temperature_count=5i /);
    assert.equal(book.counters.repeated, 0);
  });

  test('booleans, strings, non-finite values, other measurements and points without a device are not rolled up', () => {
    const book = new RollupBook(options(), T0);
    book.add({ measurement: 'telemetry', tags: { device: 'd1', location: 'hall' }, fields: { door: { kind: 'bool', value: true }, mode: str('eco'), level: { kind: 'int', value: 7n }, bad: float(Number.NaN) }, timestampMs: T0 }, T0);
    book.add({ measurement: 'sparkplug', tags: { device: 'd1', location: 'hall' }, fields: { temperature: float(5) }, timestampMs: T0 }, T0);
    book.add({ measurement: 'telemetry', tags: { location: 'hall' }, fields: { temperature: float(5) }, timestampMs: T0 }, T0);
    const closed = lines(book.closeAll());
    assert.deepEqual(closed.filter((line) => line.startsWith('telemetry_1m,device')), [`telemetry_1m,device=d1,instance=ing-1,location=hall level_min=7,level_max=7,level_sum=7,level_count=1i ${T0}`]);
    assert.ok(!closed.some((line) => line.startsWith('sparkplug')));
  });

  test('memory is bounded: beyond maxBuckets the oldest open minute is closed at once and handed out at the next check', () => {
    const book = new RollupBook(options({ maxBuckets: 4 }), T0);
    book.add(reading('d1', 'hall', T0, { temperature: 1 }), T0);
    book.add(reading('d2', 'hall', T0, { temperature: 2 }), T0);
    assert.equal(book.openBuckets, 3);
    book.add(reading('d1', 'hall', T0 + MINUTE_MS, { temperature: 3 }), T0 + MINUTE_MS);
    assert.equal(book.counters.forced, 1);
    assert.equal(book.openBuckets, 2);
    const out = book.closeDue(T0 + MINUTE_MS);
    assert.deepEqual(lines(out).filter((line) => line.includes('device=')).map((line) => line.split(' ')[0]), ['telemetry_1m,device=d1,instance=ing-1,location=hall', 'telemetry_1m,device=d2,instance=ing-1,location=hall']);
    // Points of the forced minute are late from now on.
    book.add(reading('d3', 'hall', T0 + 5, { temperature: 1 }), T0 + MINUTE_MS);
    assert.equal(book.counters.late, 1);
  });

  test('a quiet minute (no point at all) still gets its heartbeat, once, from the book\'s start on', () => {
    const book = new RollupBook(options({ measurements: ['telemetry', 'plant'] }), T0 + 10_000);
    assert.deepEqual(book.closeDue(T0 + MINUTE_MS + GRACE - 1), []);
    assert.deepEqual(lines(book.closeDue(T0 + MINUTE_MS + GRACE)), [`plant_1m,instance=ing-1 devices=0i ${T0}`, `telemetry_1m,instance=ing-1 devices=0i ${T0}`]);
    assert.deepEqual(book.closeDue(T0 + MINUTE_MS + GRACE + 5_000), [], 'once per minute');
  });

  // Review of issue 24's rollups: one device with a wrong clock must not hold back every other minute.
  test('a device whose clock is stuck (the same minute for ever) neither holds that minute open for ever nor holds back the others', () => {
    const book = new RollupBook(options(), T0);
    const stuckAt = T0 - 5 * MINUTE_MS + 7_000;
    const closedMinutes: number[] = [];
    let stuckPoints = 0;
    for (let at = T0; at < T0 + 30 * MINUTE_MS; at += 10_000) {
      book.add(reading('stuck', 'hall', stuckAt, { temperature: 5 }), at);
      book.add(reading('ok', 'hall', at, { temperature: 20 }), at);
      for (const point of book.closeDue(at + 5_000)) {
        if (point.measurement === 'telemetry_1m' && point.tags.device === 'ok') closedMinutes.push(point.timestampMs);
        if (point.tags.device === 'stuck') stuckPoints += 1;
      }
    }
    // Every minute of the healthy device that is due (ended a grace ago: all but the newest), each once, in order.
    assert.deepEqual(closedMinutes, Array.from({ length: 29 }, (_, i) => T0 + i * MINUTE_MS));
    // The stuck minute closed once, a minute and the grace after its first point; the rest of its points are late.
    assert.equal(stuckPoints, 1);
    // Rolled up: the 10 that arrived at T0 … T0 + 90 s (the check at +95 s closed it); late: the other 170 of 180.
    assert.equal(book.counters.late, 170);
  });

  test('a device whose clock runs a day behind, there from the start, does not hold back the current minutes', () => {
    const book = new RollupBook(options(), T0);
    const day = 24 * 60 * MINUTE_MS;
    const closed = new Map<string, number[]>();
    for (let at = T0; at < T0 + 20 * MINUTE_MS; at += 10_000) {
      book.add(reading('behind', 'hall', at - day, { temperature: 5 }), at);
      for (let d = 0; d < 50; d += 1) book.add(reading(`ok-${d}`, 'hall', at, { temperature: 20 }), at);
      for (const point of book.closeDue(at + 5_000)) {
        if (point.measurement !== 'telemetry_1m' || point.tags.device === undefined) continue;
        const device = point.tags.device.startsWith('ok-') ? 'ok' : point.tags.device;
        closed.set(device, [...(closed.get(device) ?? []), point.timestampMs]);
      }
    }
    const eachMinute = Array.from({ length: 19 }, (_, i) => T0 + i * MINUTE_MS);
    assert.deepEqual([...new Set(closed.get('ok'))], eachMinute);
    assert.equal(closed.get('ok')?.length, 19 * 50);
    // The lagging device's minutes (a day old, within the horizon, never closed before) open and close at their own pace.
    assert.deepEqual(closed.get('behind'), eachMinute.map((m) => m - day));
    assert.ok(book.openBuckets <= 4 * 51, `open buckets ${book.openBuckets}`);
  });

  test('a point more than a day older than the newest closed minute is late', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0, { temperature: 1 }), T0);
    book.closeDue(T0 + MINUTE_MS + GRACE);
    book.add(reading('d1', 'hall', T0 - LATE_HORIZON_MS + MINUTE_MS, { temperature: 1 }), T0 + MINUTE_MS + GRACE);
    assert.equal(book.counters.late, 0, 'within the horizon: a minute of its own');
    book.add(reading('d1', 'hall', T0 - LATE_HORIZON_MS - MINUTE_MS, { temperature: 1 }), T0 + MINUTE_MS + GRACE);
    assert.equal(book.counters.late, 1);
  });

  test('no quiet heartbeat while the source is disconnected: the outage\'s minutes stay open for the broker\'s backlog, which is then written complete', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 1 }), T0 + 1_000);
    book.closeDue(T0 + MINUTE_MS + GRACE);
    // Disconnected for five minutes: checks every 5 s hand out nothing.
    for (let at = T0 + MINUTE_MS + GRACE + 5_000; at < T0 + 6 * MINUTE_MS; at += 5_000) assert.deepEqual(book.closeDue(at, false), [], `at +${at - T0} ms`);
    // Reconnected: the queued backlog (every 10 s of the outage) drains at once.
    const back = T0 + 6 * MINUTE_MS;
    for (let t = T0 + MINUTE_MS; t < T0 + 6 * MINUTE_MS; t += 10_000) book.add(reading('d1', 'hall', t, { temperature: 2 }), back);
    assert.equal(book.counters.late, 0);
    const written = lines(book.closeDue(back + GRACE)).filter((line) => line.startsWith('telemetry_1m,device'));
    assert.deepEqual(written, Array.from({ length: 5 }, (_, i) => `telemetry_1m,device=d1,instance=ing-1,location=hall temperature_min=2,temperature_max=2,temperature_sum=12,temperature_count=6i ${T0 + (i + 1) * MINUTE_MS}`));
  });

  test('a field whose sum passes the largest float keeps its min and max, loses its sum and count (never a mean from a count without its sum), and the point and the other fields stay', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0, { temperature: 1.7e308, humidity: 40 }), T0);
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 1.7e308, humidity: 50 }), T0 + 1_000);
    assert.deepEqual(lines(book.closeAll()).filter((line) => !line.startsWith('telemetry_1m,instance')), [
      `telemetry_1m,device=d1,instance=ing-1,location=hall temperature_min=1.7e+308,temperature_max=1.7e+308,humidity_min=40,humidity_max=50,humidity_sum=90,humidity_count=2i ${T0}`,
      `telemetry_location_1m,instance=ing-1,location=hall temperature_min=1.7e+308,temperature_max=1.7e+308,humidity_min=40,humidity_max=50,humidity_sum=90,humidity_count=2i ${T0}`,
    ]);
    assert.equal(book.counters.overflowed, 2);
  });

  test('the counters are in ingestor_stats when rollups are on, and absent when off', () => {
    const book = new RollupBook(options(), T0);
    book.add(reading('d1', 'hall', T0, { temperature: 1 }), T0);
    book.closeDue(T0 + MINUTE_MS + GRACE);
    book.add(reading('d1', 'hall', T0, { temperature: 1 }), T0 + MINUTE_MS + GRACE);
    const gauges = { rejects: 0, walBytes: 0, walUnreadBytes: 0, brokerConnected: true, influxUp: true };
    const on = encodePoint(statsPoint('ing-1', emptyStats(), { ...gauges, rollups: book.counters }, T0));
    assert.match(on, /,rollup_points_repeated=0,rollup_points_late=1,rollup_minutes_forced=0,rollup_points_dropped=0,rollup_sums_overflowed=0 /);
    assert.doesNotMatch(encodePoint(statsPoint('ing-1', emptyStats(), gauges, T0)), /rollup_/);
  });

  test('rejects a bad bound by naming it', () => {
    assert.throws(() => new RollupBook(options({ maxBuckets: 0 }), T0), /maxBuckets: expected a whole number ≥ 1, got 0/);
  });
});

describe('the pipeline feeds the rollups', () => {
  test('each telemetry point as written (location from the topic, group from the registry), once logged; a rejected message is in neither', () => {
    const book = new RollupBook(options(), T0);
    const { ingest, log } = memoryIngest({ rollups: book, registry: 'devices:\n  d1: { group: freezers }\n' });
    void ingest.accept(inboundMessage('sensors/hall/d1/telemetry', { temperature: 4, battery: 90, ts: T0 + 1_000 }, T0 + 1_000, { qos: 1 }));
    void ingest.accept(inboundMessage('sensors/hall/d1/telemetry', { temperature: 6, ts: T0 + 2_000 }, T0 + 2_000, { qos: 1 }));
    void ingest.accept(inboundMessage('sensors/hall/d1/telemetry', '{"temperature": oops', T0 + 3_000, { qos: 1 }));
    assert.equal(log.lines.filter((line) => line.startsWith('telemetry,')).length, 2);
    assert.deepEqual(lines(book.closeAll()).filter((line) => line.startsWith('telemetry_1m,device')), [
      `telemetry_1m,device=d1,group=freezers,instance=ing-1,location=hall temperature_min=4,temperature_max=6,temperature_sum=10,temperature_count=2i,battery_min=90,battery_max=90,battery_sum=90,battery_count=1i ${T0}`,
    ]);
  });
});

describe('the pipeline does not roll up retained messages', () => {
  test('the broker re-sends a retained message at every subscription: rolled up again it would count twice, or rewrite an old closed minute with one reading', () => {
    const book = new RollupBook(options(), T0 + 3 * 60 * MINUTE_MS);
    const { ingest, log } = memoryIngest({ rollups: book });
    void ingest.accept(inboundMessage('sensors/hall/d1/telemetry', { temperature: 4, ts: T0 + 1_000 }, T0 + 3 * 60 * MINUTE_MS, { qos: 1, retained: true }));
    void ingest.accept(inboundMessage('sensors/hall/d2/telemetry', { temperature: 6, ts: T0 + 2_000 }, T0 + 3 * 60 * MINUTE_MS, { qos: 1 }));
    assert.equal(log.lines.filter((line) => line.startsWith('telemetry,')).length, 2, 'both raw points are written');
    assert.deepEqual(lines(book.closeAll()).filter((line) => line.startsWith('telemetry_1m,device')), [
      `telemetry_1m,device=d2,instance=ing-1,location=hall temperature_min=6,temperature_max=6,temperature_sum=6,temperature_count=1i ${T0}`,
    ]);
  });
});

describe('RollupTicker', () => {
  test('writes the due minutes through the log, and at a clean stop the open ones as they are; the same minute encodes the same line (a replay overwrites itself)', async () => {
    const book = new RollupBook(options(), T0);
    const log = new MemoryLog();
    let now = T0;
    let accepted = 0;
    const ticker = new RollupTicker({ book, wal: log, canAppend: () => true, log: silent, now: () => now, accepted: (count) => void (accepted += count) });
    book.add(reading('d1', 'hall', T0 + 1_000, { temperature: 1 }), T0 + 1_000);
    book.add(reading('d1', 'hall', T0 + MINUTE_MS + 1_000, { temperature: 2 }), T0 + MINUTE_MS + 1_000);
    now = T0 + MINUTE_MS + GRACE;
    await ticker.tick();
    assert.deepEqual(log.lines.filter((line) => line.includes('device=')), [`telemetry_1m,device=d1,instance=ing-1,location=hall temperature_min=1,temperature_max=1,temperature_sum=1,temperature_count=1i ${T0}`]);
    await ticker.flush();
    assert.ok(log.lines.includes(`telemetry_1m,device=d1,instance=ing-1,location=hall temperature_min=2,temperature_max=2,temperature_sum=2,temperature_count=1i ${T0 + MINUTE_MS}`));
    assert.equal(accepted, log.lines.length);
    book.add(reading('d1', 'hall', T0 + 2 * MINUTE_MS, { temperature: 3 }), T0 + 2 * MINUTE_MS);
    await ticker.tick();
    assert.equal(accepted, log.lines.length, 'nothing after the stop');
  });

  test('keeps due minutes in the book while the log takes nothing, and writes them once it does', async () => {
    const book = new RollupBook(options(), T0);
    const log = new MemoryLog();
    let open = false;
    const ticker = new RollupTicker({ book, wal: log, canAppend: () => open, log: silent, now: () => T0 + 5 * MINUTE_MS, accepted: () => {} });
    book.add(reading('d1', 'hall', T0, { temperature: 1 }), T0);
    await ticker.tick();
    assert.equal(log.lines.length, 0);
    open = true;
    await ticker.tick();
    assert.ok(log.lines.some((line) => line.startsWith('telemetry_1m,device=d1')));
  });
});

describe('settings', () => {
  test('on by default: telemetry, 30 s of grace, a million buckets', () => {
    const { rollups } = loadConfig({}, () => Buffer.alloc(0));
    assert.deepEqual(rollups, { enabled: true, measurements: ['telemetry'], graceMs: 30_000, maxBuckets: 1_000_000 });
  });

  test('a bad value names the setting', () => {
    assert.throws(() => loadConfig({ ROLLUP_GRACE_S: '-1' }, () => Buffer.alloc(0)), (error: unknown) => error instanceof ConfigError && /ROLLUP_GRACE_S/.test(error.message) && /-1/.test(error.message));
    assert.throws(() => loadConfig({ ROLLUP_MEASUREMENTS: 'tele metry' }, () => Buffer.alloc(0)), (error: unknown) => error instanceof ConfigError && /ROLLUP_MEASUREMENTS/.test(error.message));
    assert.throws(() => loadConfig({ ROLLUPS: 'maybe' }, () => Buffer.alloc(0)), (error: unknown) => error instanceof ConfigError && /ROLLUPS/.test(error.message));
  });
});

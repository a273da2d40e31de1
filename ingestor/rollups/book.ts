/**
 * Per-minute rollups of numeric telemetry, aggregated in the stream as
 * Telegraf's `basicstats` / `minmax` aggregators do: for each numeric field,
 * min, max, sum and count (mean = sum / count, so several ingestors of one
 * shared group merge exactly in the query), per device and per (location,
 * group), per minute of the points' own time. Pure: no I/O, no clock (the
 * caller passes "now"), no timers.
 *
 * A minute is closed, and its points handed out, once it has ended AND no
 * point of it has arrived for `graceMs` (a backlog the broker redelivers after
 * an outage keeps its minutes open while it drains, so they close complete),
 * but at the latest a minute and the grace after its first point arrived: a
 * device whose clock is stuck sends the same minute for ever and must not
 * hold it open for ever. Each minute is decided on its own: one busy minute
 * (a device whose clock runs a day behind) never holds the others back.
 * A point of a minute this book already closed is late: not rolled up (it is
 * in the raw data), only counted: rolling it into a new bucket would
 * overwrite the closed minute's point (same series and time) with a partial
 * one. So is a point more than LATE_HORIZON_MS older than the newest closed
 * minute (the closed minutes are remembered that far back).
 *
 * Memory is bounded: at most `maxBuckets` open buckets; beyond, the oldest
 * open minute is closed at once (counted as `forced`).
 *
 * Idempotent on replay: every rollup point has the minute's start as its
 * time, so writing it again overwrites itself.
 */
import type { FieldValue, Point } from '../model/point.ts';

export const MINUTE_MS = 60_000;

/**
 * How far back before the newest closed minute a point still opens a minute
 * of its own: a day, long enough for the backlog of any MQTT outage the
 * broker's session queue holds; older points are late. Also how long closed
 * minutes are remembered (at most 1,440 numbers).
 */
export const LATE_HORIZON_MS = 24 * 60 * MINUTE_MS;

/** The start of the minute `ms` falls in. */
export const minuteStart = (ms: number): number => ms - (((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);

/** min / max / sum / count of one field in one bucket. */
interface FieldStats {
  min: number;
  max: number;
  sum: number;
  count: number;
}

interface Bucket {
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Map<string, FieldStats>;
}

/** A device's bucket remembers its newest point, to tell a repeat of it (the same series and time). */
interface DeviceBucket extends Bucket {
  lastTimestampMs: number;
  lastTags: Readonly<Record<string, string>>;
  /** The fields counted at that time, from every point of that series and time so far. */
  lastFields: Readonly<Record<string, FieldValue>>;
}

interface OpenMinute {
  readonly startMs: number;
  /** Keyed by measurement + device. */
  readonly devices: Map<string, DeviceBucket>;
  /** Keyed by measurement + location + group. */
  readonly locations: Map<string, Bucket>;
  readonly firstArrivalMs: number;
  lastArrivalMs: number;
}

export interface RollupBookOptions {
  /** The raw measurements rolled up (ROLLUP_MEASUREMENTS); others pass by. */
  readonly measurements: readonly string[];
  /** ROLLUP_GRACE_S in ms: how long a minute waits after its end (and after its newest point) before it closes. */
  readonly graceMs: number;
  /** ROLLUP_MAX_BUCKETS: open buckets (device-minutes plus location-minutes) at most. */
  readonly maxBuckets: number;
  /** The `instance` tag of every rollup point (the MQTT client id, as `ingestor_stats`). */
  readonly instance: string;
}

export interface RollupCounters {
  /** Points rolled up. */
  added: number;
  /**
   * Points of the same series and time as the device's previous point (a QoS 1 message delivered twice, a
   * reading sent twice): InfluxDB keeps one point there, so only their fields not counted yet are counted.
   */
  repeated: number;
  /** Points of a minute already closed: in the raw data only. */
  late: number;
  /** Minutes closed early because the open buckets reached ROLLUP_MAX_BUCKETS. */
  forced: number;
  /** Minutes closed (each with its heartbeat point). */
  minutesClosed: number;
  /** Rollup points of minutes closed early that found no room while the log took nothing: lost (the raw points are not). */
  dropped: number;
  /** Field sums past the largest float (only min and max of that field are written for that minute). */
  overflowed: number;
}

/** `telemetry` → `telemetry_1m`: one point per device per minute. */
export const deviceRollupName = (measurement: string): string => `${measurement}_1m`;
/** `telemetry` → `telemetry_location_1m`: one point per (location, group) per minute. */
export const locationRollupName = (measurement: string): string => `${measurement}_location_1m`;

/** A numeric field's value as a number; booleans and strings are not rolled up. */
function numeric(field: FieldValue): number | undefined {
  switch (field.kind) {
    case 'float':
      return Number.isFinite(field.value) ? field.value : undefined;
    case 'int':
    case 'uint':
      return Number(field.value);
    default:
      return undefined;
  }
}

function addTo(bucket: Bucket, name: string, value: number): void {
  const stats = bucket.fields.get(name);
  if (stats === undefined) {
    bucket.fields.set(name, { min: value, max: value, sum: value, count: 1 });
    return;
  }
  if (value < stats.min) stats.min = value;
  if (value > stats.max) stats.max = value;
  stats.sum += value;
  stats.count += 1;
}

/**
 * A bucket's point. A sum past the largest float (line protocol cannot carry
 * Infinity, and one unwritable field would cost the whole point) leaves out
 * that field's `_sum` and `_count`, so a mean is never computed from a count
 * without its sum; its `_min` and `_max` stay.
 */
function rollupPoint(measurement: string, bucket: Bucket, instance: string, startMs: number, counters: RollupCounters): Point {
  const fields: Record<string, FieldValue> = {};
  for (const [name, stats] of bucket.fields) {
    fields[`${name}_min`] = { kind: 'float', value: stats.min };
    fields[`${name}_max`] = { kind: 'float', value: stats.max };
    if (Number.isFinite(stats.sum)) {
      fields[`${name}_sum`] = { kind: 'float', value: stats.sum };
      fields[`${name}_count`] = { kind: 'int', value: BigInt(stats.count) };
    } else {
      counters.overflowed += 1;
    }
  }
  return { measurement, tags: { ...bucket.tags, instance }, fields, timestampMs: startMs };
}

export class RollupBook {
  readonly #options: RollupBookOptions;
  readonly #measurements: ReadonlySet<string>;
  /** Open minutes by start time. */
  readonly #open = new Map<number, OpenMinute>();
  #buckets = 0;
  /** Minutes closed early (maxBuckets), waiting for closeDue. */
  readonly #forced: Point[] = [];
  /** The minute the book was made in: quiet heartbeats only from it on. */
  readonly #startedMinuteMs: number;
  /** The start of the newest closed minute. */
  #closedThroughMs = Number.NEGATIVE_INFINITY;
  /** The minutes closed within LATE_HORIZON_MS of the newest: their points are late. */
  readonly #closed = new Set<number>();
  readonly counters: RollupCounters = { added: 0, repeated: 0, late: 0, forced: 0, minutesClosed: 0, dropped: 0, overflowed: 0 };

  constructor(options: RollupBookOptions, nowMs: number) {
    if (!Number.isInteger(options.maxBuckets) || options.maxBuckets < 1) throw new RangeError(`maxBuckets: expected a whole number ≥ 1, got ${options.maxBuckets}`);
    if (!(options.graceMs >= 0)) throw new RangeError(`graceMs: expected ≥ 0, got ${options.graceMs}`);
    this.#options = options;
    this.#measurements = new Set(options.measurements);
    this.#startedMinuteMs = minuteStart(nowMs);
  }

  /** Open buckets now (device-minutes plus location-minutes). */
  get openBuckets(): number {
    return this.#buckets;
  }

  /**
   * Rolls a point up (the hot path: two map lookups and one small loop per
   * point). Points of other measurements, or without a `device` tag, pass by.
   * A minute that has to close early to stay within `maxBuckets` waits for
   * the next `closeDue`.
   */
  add(point: Point, arrivalMs: number): void {
    if (!this.#measurements.has(point.measurement)) return;
    const { device } = point.tags;
    if (device === undefined) return;
    const startMs = minuteStart(point.timestampMs);
    let minute = this.#open.get(startMs);
    if (minute === undefined && (this.#closed.has(startMs) || startMs < this.#closedThroughMs - LATE_HORIZON_MS)) {
      this.counters.late += 1;
      return;
    }
    if (minute === undefined) {
      minute = { startMs, devices: new Map(), locations: new Map(), firstArrivalMs: arrivalMs, lastArrivalMs: arrivalMs };
      this.#open.set(startMs, minute);
    }
    if (arrivalMs > minute.lastArrivalMs) minute.lastArrivalMs = arrivalMs;
    const deviceKey = `${point.measurement}\u0000${device}`;
    let perDevice = minute.devices.get(deviceKey);
    if (perDevice === undefined) {
      perDevice = { tags: point.tags, fields: new Map(), lastTimestampMs: Number.NaN, lastTags: point.tags, lastFields: {} };
      minute.devices.set(deviceKey, perDevice);
      this.#buckets += 1;
    }
    const location = point.tags.location ?? '';
    const group = point.tags.group ?? '';
    const locationKey = `${point.measurement}\u0000${location}\u0000${group}`;
    let perLocation = minute.locations.get(locationKey);
    if (perLocation === undefined) {
      const tags: Record<string, string> = {};
      if (location !== '') tags.location = location;
      if (group !== '') tags.group = group;
      perLocation = { tags, fields: new Map() };
      minute.locations.set(locationKey, perLocation);
      this.#buckets += 1;
    }
    // InfluxDB keeps one raw point per series and time (a second one's fields are merged into it), so a
    // repeat of the device's previous point counts only the fields not counted at that time yet. Only the
    // previous point is remembered: a repeat after another point of the device counts again (rare: a
    // broker resends an unacknowledged message before the ones queued after it).
    const repeats = point.timestampMs === perDevice.lastTimestampMs && sameTags(point.tags, perDevice.lastTags);
    let rolled = false;
    for (const name in point.fields) {
      if (repeats && name in perDevice.lastFields) continue;
      const value = numeric(point.fields[name] as FieldValue);
      if (value === undefined) continue;
      addTo(perDevice, name, value);
      addTo(perLocation, name, value);
      rolled = true;
    }
    if (repeats) {
      this.counters.repeated += 1;
      perDevice.lastFields = { ...perDevice.lastFields, ...point.fields };
    } else {
      perDevice.lastTimestampMs = point.timestampMs;
      perDevice.lastTags = point.tags;
      perDevice.lastFields = point.fields;
    }
    if (rolled) this.counters.added += 1;
    while (this.#buckets > this.#options.maxBuckets && this.#open.size > 0) {
      this.counters.forced += 1;
      for (const closed of this.#closeOldest()) {
        // Kept for the next closeDue, up to maxBuckets points: beyond (the log has taken nothing for long), dropped and counted.
        if (this.#forced.length < this.#options.maxBuckets) this.#forced.push(closed);
        else this.counters.dropped += 1;
      }
    }
  }

  /**
   * The points of every minute due at `nowMs`, oldest first. Due: ended, and
   * quiet for the grace or held open a minute and the grace since its first
   * point arrived.
   *
   * `quietHeartbeat`: whether a minute with no point at all gets its
   * heartbeat once due (only minutes from the book's start on: a backlog of
   * older ones may still come). The caller says no while the source is
   * disconnected: the minutes of an MQTT outage are the broker's backlog,
   * still to come, and a heartbeat would close them empty.
   */
  closeDue(nowMs: number, quietHeartbeat = true): Point[] {
    const { graceMs } = this.#options;
    const points = this.#forced.splice(0);
    for (const startMs of this.#sortedStarts()) {
      const minute = this.#open.get(startMs) as OpenMinute;
      const ended = nowMs >= startMs + MINUTE_MS + graceMs;
      const quiet = nowMs >= minute.lastArrivalMs + graceMs;
      const heldLongEnough = nowMs >= minute.firstArrivalMs + MINUTE_MS + graceMs;
      if (ended && (quiet || heldLongEnough)) points.push(...this.#close(startMs));
    }
    const lastDueMs = minuteStart(nowMs - graceMs - MINUTE_MS);
    if (quietHeartbeat && lastDueMs > this.#closedThroughMs && lastDueMs >= this.#startedMinuteMs && !this.#open.has(lastDueMs)) {
      points.push(...this.#heartbeats(lastDueMs));
      this.#markClosed(lastDueMs);
    }
    return points;
  }

  /** Every open minute, as it is (a clean stop: partial minutes rather than none). */
  closeAll(): Point[] {
    const points = this.#forced.splice(0);
    for (const startMs of this.#sortedStarts()) points.push(...this.#close(startMs));
    return points;
  }

  #sortedStarts(): number[] {
    return [...this.#open.keys()].sort((a, b) => a - b);
  }

  #closeOldest(): Point[] {
    return this.#close(this.#sortedStarts()[0] as number);
  }

  /** Remembers a closed minute; forgets those past the horizon. */
  #markClosed(startMs: number): void {
    this.counters.minutesClosed += 1;
    this.#closed.add(startMs);
    if (startMs <= this.#closedThroughMs) return;
    this.#closedThroughMs = startMs;
    const horizonMs = startMs - LATE_HORIZON_MS;
    for (const closed of this.#closed) if (closed < horizonMs) this.#closed.delete(closed);
  }

  #close(startMs: number): Point[] {
    const minute = this.#open.get(startMs) as OpenMinute;
    this.#open.delete(startMs);
    this.#buckets -= minute.devices.size + minute.locations.size;
    this.#markClosed(startMs);
    const { instance } = this.#options;
    const points: Point[] = [];
    for (const [key, bucket] of minute.devices) {
      if (bucket.fields.size > 0) points.push(rollupPoint(deviceRollupName(measurementOf(key)), bucket, instance, startMs, this.counters));
    }
    for (const [key, bucket] of minute.locations) {
      if (bucket.fields.size > 0) points.push(rollupPoint(locationRollupName(measurementOf(key)), bucket, instance, startMs, this.counters));
    }
    const devicesByMeasurement = new Map<string, number>();
    for (const key of minute.devices.keys()) {
      const measurement = measurementOf(key);
      devicesByMeasurement.set(measurement, (devicesByMeasurement.get(measurement) ?? 0) + 1);
    }
    points.push(...this.#heartbeats(startMs, devicesByMeasurement));
    return points;
  }

  /**
   * One point per rolled-up measurement per closed minute, tag `instance`
   * only, field `devices` (devices rolled up in that minute, by this
   * instance): it keeps a query over the rollups non-empty while an ingestor
   * runs, so "no device out of range" is not "no data" for Grafana.
   */
  #heartbeats(startMs: number, devices?: ReadonlyMap<string, number>): Point[] {
    return this.#options.measurements.map((measurement) => ({
      measurement: deviceRollupName(measurement),
      tags: { instance: this.#options.instance },
      fields: { devices: { kind: 'int', value: BigInt(devices?.get(measurement) ?? 0) } },
      timestampMs: startMs,
    }));
  }
}

/** Whether two tag sets are the same series' (with the measurement and the time: the same raw point). */
function sameTags(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  let keys = 0;
  for (const key in a) {
    if (a[key] !== b[key]) return false;
    keys += 1;
  }
  for (const _key in b) keys -= 1;
  return keys === 0;
}

function measurementOf(key: string): string {
  return key.slice(0, key.indexOf('\u0000'));
}

/**
 * Per-minute rollups (docs/data-model.md#rollups) through the real pipeline:
 * real Mosquitto, the real ingestor process, InfluxDB 1.x. The rollups of a
 * minute equal what InfluxDB computes from that minute's raw points (min,
 * mean as sum/count, max; per device and per location and group), the
 * heartbeat is there, a reading delivered twice counts once (as InfluxDB
 * keeps one point per series and time), and a clean stop writes the open
 * minute.
 *
 * Readings carry a payload time in the minute before the ingestor started,
 * so it is written after ROLLUP_GRACE_S=1 without waiting for a minute to
 * end, and never closed empty before they arrive however slow the machine
 * (quiet heartbeats close only minutes from the book's start on). Every step
 * waits for the points it needs, bounded. Spawns processes: run under the
 * shared lock.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher } from '../harness/publisher.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';

const MINUTE = 60_000;
let influx: Influx1;
let broker: Mosquitto;
let dir: string;

before(async () => {
  [influx, broker] = await Promise.all([startInflux1(), startMosquitto()]);
  dir = mkdtempSync(join(tmpdir(), 'sensorflow-rollups-'));
  writeFileSync(join(dir, 'devices.yaml'), 'devices:\n  r-1: { group: freezers }\n  r-2: { group: freezers }\n');
});
after(async () => {
  await Promise.all([influx.stop(), broker.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const rounded = (value: unknown): number => Math.round(Number(value) * 1e9) / 1e9;

test('the rollups of a minute equal the raw points\' min / mean / max, per device and per location and group; a clean stop writes the open minute', async () => {
  await influx.query('CREATE DATABASE r');
  const minuteMs = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
  const ingestor = startIngestor({
    MQTT_URL: broker.url, MQTT_CLIENT_ID: 'rollups-1', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'r',
    DEVICES_FILE: join(dir, 'devices.yaml'), DEVICE_DIRECTORY_FILE: join(dir, 'directory.json'), ROLLUPS: 'true', ROLLUP_GRACE_S: '1', DEVICE_STATE_MAX_LAG_S: '86400',
  }, 'rollups-1');
  const publisher = await connectPublisher(broker.url);
  try {
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
    const readings: [string, string, number, number, number][] = [
      // topic device, location, offset in the minute, temperature, humidity
      ['r-1', 'hall', 1_000, 4.5, 40], ['r-1', 'hall', 11_000, -2.25, 42], ['r-1', 'hall', 59_999, 7, 41.5],
      // r-2's second reading twice, as a QoS 1 message the broker delivers again: InfluxDB keeps one point, so must the rollups.
      ['r-2', 'hall', 5_000, 3, 60], ['r-2', 'hall', 35_000, 3.5, 61], ['r-2', 'hall', 35_000, 3.5, 61],
      ['r-3', 'roof', 20_000, 30.125, 10],
    ];
    for (const [device, location, offset, temperature, humidity] of readings) {
      await publisher.publishAsync(`sensors/${location}/${device}/telemetry`, JSON.stringify({ temperature, humidity, ts: minuteMs + offset }), { qos: 1 });
    }
    // Not rolled up: a string field, and a message that is no point at all.
    await publisher.publishAsync('sensors/hall/r-1/telemetry', '{"temperature": broken', { qos: 1 });

    const rollups = await waitFor('three device rollups of the minute', async () => {
      const rows = await influx.query(`SELECT * FROM telemetry_1m WHERE time = ${minuteMs}ms AND "device" != ''`, 'r');
      return rows.length === 3 ? rows : undefined;
    });
    assert.deepEqual(rollups.map((row) => [row.device, row.location, row.group, row.instance]).sort(), [['r-1', 'hall', 'freezers', 'rollups-1'], ['r-2', 'hall', 'freezers', 'rollups-1'], ['r-3', 'roof', null, 'rollups-1']]);

    for (const field of ['temperature', 'humidity']) {
      const raw = await influx.query(`SELECT min("${field}") AS lo, mean("${field}") AS mean, max("${field}") AS hi, count("${field}") AS n FROM telemetry WHERE time >= ${minuteMs}ms AND time < ${minuteMs + MINUTE}ms GROUP BY "device"`, 'r');
      const rolled = await influx.query(`SELECT min("${field}_min") AS lo, sum("${field}_sum") / sum("${field}_count") AS mean, max("${field}_max") AS hi, sum("${field}_count") AS n FROM telemetry_1m WHERE time >= ${minuteMs}ms AND time < ${minuteMs + MINUTE}ms GROUP BY "device"`, 'r');
      const shape = (rows: readonly Record<string, unknown>[]) => rows.map((row) => [row.device, rounded(row.lo), rounded(row.mean), rounded(row.hi), Number(row.n)]).sort();
      assert.equal(raw.length, 3, `${field}: raw rows`);
      assert.deepEqual(shape(rolled), shape(raw), field);
      const rawByPlace = await influx.query(`SELECT min("${field}") AS lo, mean("${field}") AS mean, max("${field}") AS hi, count("${field}") AS n FROM telemetry WHERE time >= ${minuteMs}ms AND time < ${minuteMs + MINUTE}ms GROUP BY "location", "group"`, 'r');
      const rolledByPlace = await influx.query(`SELECT min("${field}_min") AS lo, sum("${field}_sum") / sum("${field}_count") AS mean, max("${field}_max") AS hi, sum("${field}_count") AS n FROM telemetry_location_1m WHERE time >= ${minuteMs}ms AND time < ${minuteMs + MINUTE}ms GROUP BY "location", "group"`, 'r');
      const byPlace = (rows: readonly Record<string, unknown>[]) => rows.map((row) => [row.location, row.group ?? '', rounded(row.lo), rounded(row.mean), rounded(row.hi), Number(row.n)]).sort();
      assert.equal(rawByPlace.length, 2, `${field}: raw rows per place`);
      assert.deepEqual(byPlace(rolledByPlace), byPlace(rawByPlace), `${field} per location and group`);
    }
    const heartbeat = await influx.query(`SELECT "devices", "instance" FROM telemetry_1m WHERE time = ${minuteMs}ms AND "device" = ''`, 'r');
    assert.deepEqual(heartbeat.map((row) => [row.devices, row.instance]), [[3, 'rollups-1']]);

    // The current minute is open; a clean stop writes it as it is.
    const nowMs = Date.now();
    const openMinuteMs = Math.floor(nowMs / MINUTE) * MINUTE;
    await publisher.publishAsync('sensors/hall/r-1/telemetry', JSON.stringify({ temperature: 12.5, ts: nowMs }), { qos: 1 });
    await waitFor('the open minute\'s raw point', async () => ((await influx.query(`SELECT * FROM telemetry WHERE time = ${nowMs}ms`, 'r')).length === 1 ? true : undefined));
    assert.equal(await ingestor.stop(), 0);
    const open = await influx.query(`SELECT "temperature_min", "temperature_max", "temperature_count" FROM telemetry_1m WHERE time = ${openMinuteMs}ms AND "device" = 'r-1'`, 'r');
    assert.deepEqual(open.map((row) => [row.temperature_min, row.temperature_max, row.temperature_count]), [[12.5, 12.5, 1]]);
  } finally {
    await publisher.endAsync();
    await ingestor.stop();
    ingestor.cleanup();
  }
});

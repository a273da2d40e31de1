/**
 * Every topic layout of DESIGN.md, through real Mosquitto and the example
 * routes file into real InfluxDB 1.x, checked value by value.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT, startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { startInflux1, startMosquitto } from '../harness/services.ts';

const T = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

describe('routes', () => {
  test('the example routes file: JSON, envelope, bare values, a single topic, line protocol, {device}/{stream}', async () => {
    const [broker, influx] = await Promise.all([startMosquitto(), startInflux1()]);
    await influx.query('CREATE DATABASE routes');
    const ingestor = startIngestor({
      MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'routes', FLUSH_INTERVAL_MS: '100',
      ROUTES_FILE: join(REPO_ROOT, 'ingestor', 'routes.example.yaml'),
    });
    try {
      // Subscriptions come from the routes when MQTT_TOPICS is not set.
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'industrial/+/+/+/+/sensors/+', 'home/+/+', 'temperature', 'lp/+/+', '+/+', 'sensors/+/+/status']);
      const sentAt = Date.now();
      const publisher = await connectPublisher(broker.url);
      await publishAll(publisher, [
        { topic: 'sensors/lab 2/dev-42/telemetry', payload: JSON.stringify({ temperature: 21.4, ts: T }) },
        { topic: 'industrial/plant-a/press shop/line-2/plc-7/sensors/pressure', payload: JSON.stringify({ timestamp: new Date(T).toISOString(), value: 4.2, unit: 'bar', quality: 'good' }) },
        { topic: 'home/kitchen/temperature', payload: '21.5' },
        { topic: 'temperature', payload: '21' },
        { topic: 'lp/site-1/gw-3', payload: `weather,station=roof wind=3.4,gust=7i ${T}000000` },
        { topic: 'dev-42/humidity', payload: '45.1' }, // location learned from its telemetry topic above
        { topic: 'dev-43/humidity', payload: '40' }, // never seen: location unknown
        { topic: 'temperature', payload: '21.5' }, // not an integer: a reject, not a type conflict
      ], { window: 1 });
      await publisher.endAsync();

      const all = async (measurement: string): Promise<Record<string, unknown>[]> => (await influx.query(`SELECT * FROM "${measurement}"`, 'routes')).map((row) => ({ ...row }));
      await waitFor('every point', async () => ((await influx.query('SELECT count(*) FROM weather', 'routes')).length > 0 && (await all('telemetry')).length === 3 ? true : undefined), 20_000, 200);
      await waitFor('the reject on record', async () => ((await all('ingest_rejects')).length === 1 ? true : undefined), 20_000, 200);

      const telemetry = await all('telemetry');
      assert.deepEqual(telemetry.find((r) => r.location === 'lab 2'), { time: T, device: 'dev-42', location: 'lab 2', temperature: 21.4, humidity: null });
      const streams = telemetry
        .filter((r) => r.humidity !== null)
        .map(({ time, ...rest }): Record<string, unknown> => ({ ...rest, recent: (time as number) >= sentAt - 1000 }));
      assert.deepEqual(streams.sort((a, b) => String(a.device).localeCompare(String(b.device))), [
        { device: 'dev-42', location: 'lab 2', humidity: 45.1, temperature: null, recent: true },
        { device: 'dev-43', location: 'unknown', humidity: 40, temperature: null, recent: true },
      ]);
      assert.deepEqual(await all('industrial'), [{ time: T, area: 'press shop', device: 'plc-7', line: 'line-2', location: 'plant-a', pressure: 4.2, quality: 'good', unit: 'bar' }]);
      const [home] = await all('temperature');
      assert.deepEqual({ ...home, time: undefined }, { time: undefined, device: 'kitchen', location: 'kitchen', value: 21.5 });
      assert.deepEqual((await all('boiler')).map(({ time: _t, ...rest }) => rest), [{ device: 'boiler-1', location: 'basement', temperature: 21 }]);
      assert.deepEqual(
        (await influx.query('SHOW FIELD KEYS FROM boiler', 'routes')).map((r) => [r.fieldKey, r.fieldType]),
        [['temperature', 'integer']],
      );
      assert.deepEqual(await all('weather'), [{ time: T, device: 'gw-3', gust: 7, location: 'site-1', station: 'roof', wind: 3.4 }]);
      const [reject] = await all('ingest_rejects');
      assert.equal(reject?.reason, 'bad_field');
      assert.equal(reject?.route, 'boiler');
      assert.equal(reject?.topic, 'temperature');
      assert.equal(reject?.payload, '21.5');
      assert.equal(await ingestor.stop(), 0);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await Promise.all([broker.stop(), influx.stop()]);
    }
  });
});

/**
 * Sparkplug B through real Mosquitto into InfluxDB 1.x: BIRTH names metrics
 * and aliases, DATA by alias alone, 64-bit integers stored exactly, DEATH as
 * presence, an unknown alias a reject.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sparkplug from 'sparkplug-payload';
import { startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { startInflux1, startMosquitto } from '../harness/services.ts';

const codec = sparkplug.get('spBv1.0')!;
const T = Math.floor(Date.now() / 1000) * 1000 - 600_000;

describe('sparkplug B', () => {
  test('birth, data by alias, exact 64-bit values, death as presence, unknown aliases rejected', async () => {
    const [broker, influx] = await Promise.all([startMosquitto(), startInflux1()]);
    await influx.query('CREATE DATABASE spb');
    const ingestor = startIngestor({ MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'spb', FLUSH_INTERVAL_MS: '100', SPARKPLUG: 'true' });
    try {
      await waitUntilSubscribed(ingestor, ['spBv1.0/#']);
      const publish = (topic: string, payload: object) => ({ topic, payload: Buffer.from(codec.encodePayload(payload)) });
      const publisher = await connectPublisher(broker.url);
      await publishAll(publisher, [
        publish('spBv1.0/plant/NBIRTH/gw-1', { timestamp: T, seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }, { name: 'Node/Uptime', alias: 1, type: 'UInt32', value: 10 }] }),
        publish('spBv1.0/plant/DBIRTH/gw-1/press-7', { timestamp: T + 1, seq: 1, metrics: [
          { name: 'Pressure', alias: 10, type: 'Double', value: 4.2 },
          { name: 'Cycles', alias: 11, type: 'Int64', value: '9007199254740993' },
        ] }),
        publish('spBv1.0/plant/DDATA/gw-1/press-7', { timestamp: T + 2, seq: 2, metrics: [
          { alias: 10, type: 'Double', value: 4.5 },
          { alias: 11, type: 'Int64', value: '9223372036854775807' },
        ] }),
        publish('spBv1.0/plant/DDATA/gw-1/unborn', { timestamp: T + 3, seq: 3, metrics: [{ alias: 10, type: 'Double', value: 1 }] }),
        publish('spBv1.0/plant/DDEATH/gw-1/press-7', { timestamp: T + 4, seq: 4, metrics: [] }),
      ], { window: 1 });
      await publisher.endAsync();

      await waitFor('the points', async () => ((await influx.query('SELECT * FROM sparkplug', 'spb')).length === 3 ? true : undefined), 20_000, 200);
      // CSV keeps 64-bit integers exact (JSON would round them through a double).
      const response = await fetch(`${influx.url}/query?${new URLSearchParams({ db: 'spb', epoch: 'ms', q: "SELECT Cycles, Pressure FROM sparkplug WHERE device = 'press-7'" }).toString()}`, { headers: { accept: 'application/csv' } });
      const csv = (await response.text()).trim().split('\n');
      assert.deepEqual(csv, ['name,tags,time,Cycles,Pressure', `sparkplug,,${T + 1},9007199254740993,4.2`, `sparkplug,,${T + 2},9223372036854775807,4.5`]);
      const node = await influx.query("SELECT * FROM sparkplug WHERE device = 'gw-1'", 'spb');
      assert.deepEqual(node, [{ time: T, device: 'gw-1', edge: 'gw-1', group: 'plant', location: 'unknown', 'Node/Uptime': 10, bdSeq: 0, Cycles: null, Pressure: null }]);
      const presence = await influx.query("SELECT online, reason, source FROM device_presence WHERE device = 'press-7'", 'spb');
      assert.deepEqual(presence.map((p) => [p.time, p.online, p.reason, p.source]), [[T + 1, 1, 'dbirth', 'sparkplug'], [T + 4, 0, 'ddeath', 'sparkplug']]);
      await waitFor('the reject', async () => ((await influx.query('SELECT * FROM ingest_rejects', 'spb')).length === 1 ? true : undefined), 20_000, 200);
      const [reject] = await influx.query('SELECT reason, route, topic FROM ingest_rejects', 'spb');
      assert.deepEqual({ reason: reject?.reason, route: reject?.route, topic: reject?.topic }, { reason: 'unknown_alias', route: 'sparkplug', topic: 'spBv1.0/plant/DDATA/gw-1/unborn' });
      assert.equal(await ingestor.stop(), 0);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await Promise.all([broker.stop(), influx.stop()]);
    }
  });
});

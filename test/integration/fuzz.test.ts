/**
 * 100,000 hostile messages interleaved with 5,000 valid ones, through real
 * Mosquitto into real InfluxDB 1.x: the ingestor stays up, every valid
 * message is stored exactly as sent, every hostile one is a counted reject,
 * and none adds a point, a tag, a field or a measurement.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeFleet } from '../harness/fleet.ts';
import { hostileMessages } from '../harness/hostile.ts';
import { startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll, type OutgoingMessage } from '../harness/publisher.ts';
import { startInflux1, startMosquitto } from '../harness/services.ts';
import { assertSameDataset, readFleetFromInflux } from '../harness/verify.ts';

const HOSTILE = 100_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

describe('fuzz', () => {
  test(`${HOSTILE} hostile messages among valid ones (seed ${SEED})`, async (t) => {
    const [broker, influx] = await Promise.all([startMosquitto(), startInflux1()]);
    await influx.query('CREATE DATABASE fuzz');
    const httpPort = await freePort();
    const ingestor = startIngestor({ MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'fuzz', FLUSH_INTERVAL_MS: '200', HTTP_PORT: String(httpPort) });
    try {
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
      const fleet = makeFleet(50, 100, Date.now() - 2 * 3_600_000, ['fuzz-a', 'fuzz-b', 'fuzz-c']);
      const hostile = hostileMessages(HOSTILE, SEED);
      const kinds = new Map<string, number>();
      for (const m of hostile) kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
      t.diagnostic(`hostile kinds: ${JSON.stringify(Object.fromEntries(kinds))}`);
      const stream: OutgoingMessage[] = [];
      const every = Math.floor(hostile.length / fleet.messages.length);
      hostile.forEach((message, i) => {
        stream.push(message);
        if (i % every === 0 && i / every < fleet.messages.length) stream.push(fleet.messages[i / every]!);
      });
      assert.equal(stream.length, HOSTILE + fleet.messages.length);

      const publisher = await connectPublisher(broker.url);
      await publishAll(publisher, stream, { window: 500 });
      await publisher.endAsync();

      const metric = async (name: string): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
        return text.split('\n').filter((line) => line.startsWith(name)).reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
      };
      await waitFor('every message taken', async () => ((await metric('sensorflow_messages_received_total')) === stream.length ? true : undefined), 120_000, 250);
      assert.equal(ingestor.process.child.exitCode, null, 'the ingestor is still up');
      assert.equal(await metric('sensorflow_rejects_total'), HOSTILE, 'every hostile message is a counted reject');

      await waitFor('the valid points written', async () => ((await influx.query('SELECT count(temperature) FROM telemetry', 'fuzz'))[0]?.count === fleet.messages.length ? true : undefined), 60_000, 250);
      assertSameDataset(fleet, await readFleetFromInflux(influx, 'fuzz'));

      // Nothing hostile left a trace beyond ingest_rejects.
      assert.deepEqual((await influx.query('SHOW MEASUREMENTS', 'fuzz')).map((r) => r.name), ['ingest_rejects', 'telemetry']);
      assert.deepEqual((await influx.query('SHOW TAG KEYS FROM telemetry', 'fuzz')).map((r) => r.tagKey), ['device', 'location']);
      assert.deepEqual((await influx.query('SHOW FIELD KEYS FROM telemetry', 'fuzz')).map((r) => r.fieldKey), ['battery', 'humidity', 'temperature']);
      assert.deepEqual((await influx.query('SHOW TAG VALUES FROM telemetry WITH KEY = "location"', 'fuzz')).map((r) => r.value), ['fuzz-a', 'fuzz-b', 'fuzz-c']);
      const devices = [...new Set([...fleet.expected.values()].map((p) => p.device))].sort();
      assert.deepEqual((await influx.query('SHOW TAG VALUES FROM telemetry WITH KEY = "device"', 'fuzz')).map((r) => r.value), devices);
      assert.equal((await influx.query('SHOW SERIES FROM telemetry', 'fuzz')).length, devices.length, 'one series per valid device');
      assert.deepEqual((await influx.query('SHOW TAG KEYS FROM ingest_rejects', 'fuzz')).map((r) => r.tagKey), ['reason', 'route']);
      assert.equal((await influx.query('SHOW SERIES FROM device_presence', 'fuzz')).length, 0, 'status garbage made no presence point');

      assert.equal(await ingestor.stop(), 0);
      const stopped = ingestor.logLines().find((line) => line.msg === 'stopped') as { stats: { rejects: Record<string, number> } };
      t.diagnostic(`rejects by reason: ${JSON.stringify(stopped.stats.rejects)}`);
      assert.equal(Object.values(stopped.stats.rejects).reduce((a, b) => a + b, 0), HOSTILE);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await Promise.all([broker.stop(), influx.stop()]);
    }
  });
});

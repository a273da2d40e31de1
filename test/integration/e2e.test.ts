/**
 * End to end through real services: 10,000 messages from 100 devices in 5
 * locations (hostile tag values included), published to Mosquitto, ingested,
 * and read back from InfluxDB 1.x (INFLUX_API=v1) and VictoriaMetrics
 * (INFLUX_API=v2). Every point must arrive once with its exact tags, values
 * and timestamp; the malformed messages mixed in must leave no trace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { makeFleet, pointKey, type ExpectedPoint } from '../harness/fleet.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll, type OutgoingMessage } from '../harness/publisher.ts';
import { startInflux1, startMosquitto, startVictoria, type Influx1, type Mosquitto, type Victoria } from '../harness/services.ts';
import { assertSameDataset, countTelemetry, readFleetFromInflux } from '../harness/verify.ts';

const DEVICES = 100;
const PER_DEVICE = 100;
const TOTAL = DEVICES * PER_DEVICE;
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3 * 3600 * 1000;
const fleet = makeFleet(DEVICES, PER_DEVICE, BASE_MS);

/**
 * Messages that must each become a counted reject and nothing else. (A topic
 * with a control character cannot be among them: Mosquitto disconnects a
 * client that publishes one; the unit tests cover it.)
 */
const MALFORMED: (OutgoingMessage & { reason: string })[] = [
  { topic: 'sensors/plant-1/dev-x/telemetry', payload: 'not json', reason: 'invalid_json' },
  { topic: 'sensors/plant-1/dev-x/telemetry', payload: '[1,2,3]', reason: 'not_an_object' },
  { topic: 'sensors/plant-1/dev-x/telemetry', payload: '{"label":"only text"}', reason: 'no_fields' },
  { topic: 'sensors/plant-1/dev-x/telemetry', payload: '{"temperature":1,"ts":86400}', reason: 'bad_timestamp' },
  { topic: 'sensors/plant-1/dev-x/telemetry', payload: '{"temperature":1e400}', reason: 'bad_field' },
  { topic: 'sensors//dev-x/telemetry', payload: '{"temperature":1}', reason: 'bad_point' },
  { topic: 'sensors/plant-1/trailing\\/telemetry', payload: '{"temperature":1}', reason: 'bad_point' },
  { topic: 'sensors/plant-1/dev-x/telemetry', payload: Buffer.from([0xff, 0xfe, 0x7b]), reason: 'invalid_utf8' },
];

function interleave(): OutgoingMessage[] {
  const messages = [...fleet.messages];
  MALFORMED.forEach((bad, i) => messages.splice(Math.floor(((i + 1) * messages.length) / (MALFORMED.length + 1)), 0, bad));
  return messages;
}

function expectedRejects(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { reason } of MALFORMED) counts[reason] = (counts[reason] ?? 0) + 1;
  return counts;
}

function assertFleetStored(actual: Map<string, ExpectedPoint>): void {
  assertSameDataset(fleet, actual);
  assert.equal(actual.size, TOTAL);
}

async function runIngestion(broker: Mosquitto, ingestor: Ingestor): Promise<void> {
  await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
  const publisher = await connectPublisher(broker.url);
  try {
    await publishAll(publisher, interleave());
  } finally {
    await publisher.endAsync();
  }
}

async function stopAndCheckStats(ingestor: Ingestor): Promise<void> {
  assert.equal(await ingestor.stop(), 0, 'clean shutdown exits 0');
  const stopped = ingestor.logLines().find((line) => line.msg === 'stopped');
  assert.ok(stopped, 'the last log line reports the final stats');
  assert.deepEqual(stopped.stats, {
    messagesIn: TOTAL + MALFORMED.length,
    // every one of them, the malformed too, taken by the default route
    messagesByRoute: { default: TOTAL + MALFORMED.length },
    // each malformed message is also an ingest_rejects point
    pointsAccepted: TOTAL + MALFORMED.length,
    pointsWritten: TOTAL + MALFORMED.length,
    pointsRejectedByInflux: 0,
    writeRetries: 0,
    presenceIgnored: 0,
    // device_state ticks are off in the harness (DEVICE_STATE_INTERVAL_S=3600): nothing but the messages is counted
    deviceStateTicks: 0,
    deviceStateSkipped: 0,
    deviceStateInvalid: 0,
    devicesForgotten: 0,
    catchingUp: false,
    rejects: expectedRejects(),
    walBytes: (stopped.stats as { walBytes: number }).walBytes,
    unsentBytes: 0,
  });
}

describe('end to end: 10,000 messages from 100 devices in 5 locations', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('into InfluxDB 1.x over INFLUX_API=v1: every point once, exact tags, values and timestamps', async () => {
    const influx: Influx1 = await startInflux1();
    const ingestor = startIngestor({
      MQTT_URL: broker.url,
      INFLUX_URL: influx.url,
      INFLUX_API: 'v1',
      INFLUX_BUCKET: 'iot',
      BATCH_SIZE: '1000',
      FLUSH_INTERVAL_MS: '200',
    });
    try {
      await influx.query('CREATE DATABASE iot');
      await runIngestion(broker, ingestor);
      await waitFor(`${TOTAL} points in InfluxDB`, async () => ((await countTelemetry(influx, 'iot')) === TOTAL ? true : undefined), 60_000, 250);

      assertFleetStored(await readFleetFromInflux(influx, 'iot'));

      // Nothing else was created: no stray measurement, tag key or field key.
      assert.deepEqual((await influx.query('SHOW MEASUREMENTS', 'iot')).map((r) => r.name), ['ingest_rejects', 'telemetry']);
      // Every malformed message is on record, with its reason and topic.
      const recorded = (await influx.query('SELECT reason, route, topic, error, payload FROM ingest_rejects', 'iot'))
        .map((row) => `${row.reason as string} ${row.topic as string}`)
        .sort();
      assert.deepEqual(recorded, MALFORMED.map((m) => `${m.reason} ${m.topic}`).sort());
      assert.deepEqual((await influx.query('SHOW TAG KEYS FROM telemetry', 'iot')).map((r) => r.tagKey), ['device', 'location']);
      assert.deepEqual(
        (await influx.query('SHOW FIELD KEYS FROM telemetry', 'iot')).map((r) => [r.fieldKey, r.fieldType]),
        [['battery', 'float'], ['humidity', 'float'], ['temperature', 'float']],
      );
      await stopAndCheckStats(ingestor);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await influx.stop();
    }
  });

  test('into VictoriaMetrics over INFLUX_API=v2: every point once, exact tags, values and timestamps', async () => {
    const vm: Victoria = await startVictoria();
    const ingestor = startIngestor({
      MQTT_URL: broker.url,
      INFLUX_URL: vm.url,
      INFLUX_API: 'v2',
      INFLUX_ORG: 'sensorflow',
      INFLUX_BUCKET: 'iot',
      INFLUX_TOKEN: 'not-checked-by-victoria',
      FLUSH_INTERVAL_MS: '200',
    });
    try {
      await runIngestion(broker, ingestor);
      const byField = new Map<string, Map<string, number>>();
      await waitFor(`${TOTAL} samples of each field in VictoriaMetrics`, async () => {
        byField.clear();
        for (const series of await vm.exportSeries('{__name__=~"telemetry_.*"}')) {
          const { __name__: name, device, location, ...rest } = series.metric;
          // VictoriaMetrics adds the bucket as a `db` label; nothing else may appear.
          assert.deepEqual(Object.keys(rest).filter((label) => label !== 'db'), [], `unexpected labels on ${name}`);
          const field = (name as string).replace(/^telemetry_/, '');
          const samples = byField.get(field) ?? new Map<string, number>();
          series.timestamps.forEach((ts, i) => {
            const key = pointKey(location as string, device as string, ts);
            assert.ok(!samples.has(key), `duplicate sample ${field} ${key}`);
            samples.set(key, series.values[i] as number);
          });
          byField.set(field, samples);
        }
        const counts = [...byField.values()].map((samples) => samples.size);
        return counts.length === 3 && counts.every((count) => count === TOTAL) ? true : undefined;
      }, 60_000, 500);

      assert.deepEqual([...byField.keys()].sort(), ['battery', 'humidity', 'temperature']);
      const actual = new Map<string, ExpectedPoint>();
      for (const key of byField.get('temperature')!.keys()) {
        const [location, device, ts] = key.split('\u0000') as [string, string, string];
        actual.set(key, {
          device,
          location,
          timestampMs: Number(ts),
          fields: {
            temperature: byField.get('temperature')!.get(key)!,
            humidity: byField.get('humidity')!.get(key)!,
            battery: byField.get('battery')!.get(key)!,
          },
        });
      }
      assertFleetStored(actual);
      await stopAndCheckStats(ingestor);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await vm.stop();
    }
  });
});

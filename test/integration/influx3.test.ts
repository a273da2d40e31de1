/**
 * The real ingestor process against the InfluxDB 3 stand-in
 * (test/harness/influx3-standin.ts, built from influxdata/influxdb v3.10.1)
 * and a real Mosquitto: across an outage, a full write buffer (500 on
 * /api/v3/write_lp), a 400 that names no line, and a bad line in a
 * 5,000-line batch, every good point is stored exactly once with its values,
 * and the bad line is a reject with InfluxDB 3's reason. INFLUX_API=v2 at an
 * InfluxDB 3 is refused at start.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeFleet, pointKey, type ExpectedPoint, type Fleet } from '../harness/fleet.ts';
import { startInflux3StandIn, type Influx3StandIn } from '../harness/influx3-standin.ts';
import { startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { startMosquitto, type Mosquitto } from '../harness/services.ts';
import { assertSameDataset } from '../harness/verify.ts';

const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3 * 3600 * 1000;
const TELEMETRY = ['sensors/+/+/telemetry'];
const FAST_RECOVERY = { FLUSH_INTERVAL_MS: '200', WRITE_RETRY_MAX_MS: '1000' };

/** The stand-in's telemetry as the fleet's ExpectedPoints (ms), keyed like Fleet.expected. */
function storedFleet(standIn: Influx3StandIn, db: string): Map<string, ExpectedPoint> {
  const actual = new Map<string, ExpectedPoint>();
  for (const point of standIn.points(db, 'telemetry')) {
    const number = (name: string): number => {
      const value = point.fields[name];
      assert.ok(value?.kind === 'float', `${name} of ${JSON.stringify(point.tags)} is a float`);
      return value.value;
    };
    const timestampMs = Number(point.timeNs / 1_000_000n);
    const expected: ExpectedPoint = {
      device: point.tags.device!, location: point.tags.location!, timestampMs,
      fields: { temperature: number('temperature'), humidity: number('humidity'), battery: number('battery') },
    };
    actual.set(pointKey(expected.location, expected.device, timestampMs), expected);
  }
  return actual;
}

async function waitForAll(standIn: Influx3StandIn, db: string, fleet: Fleet): Promise<void> {
  await waitFor(`${fleet.expected.size} telemetry points in the stand-in`, () => (standIn.points(db, 'telemetry').length >= fleet.expected.size ? true : undefined), 90_000, 200);
}

describe('InfluxDB 3 (stand-in, v3.10.1) with the real ingestor', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('outage, full write buffer, a 400 naming no line, and one bad line in a 5,000-line batch: every good point once, the bad line a reject with v3\'s reason', async () => {
    const standIn = await startInflux3StandIn({ walFlushIntervalMs: 1000 });
    const ingestor = startIngestor({
      MQTT_URL: broker.url, INFLUX_URL: standIn.url, INFLUX_API: 'v3', INFLUX_TOKEN: standIn.adminToken, INFLUX_BUCKET: 'iot3',
      BATCH_SIZE: '5000', ...FAST_RECOVERY, HTTP_PORT: '0',
    });
    try {
      await waitUntilSubscribed(ingestor, TELEMETRY);
      const publisher = await connectPublisher(broker.url);
      // 1. The first 5,000 readings in; the table's types are fixed by them.
      // 100 devices: every hostile name of the fleet (a `"` in a tag value, `,` `=` and spaces) goes through.
      const fleet = makeFleet(100, 100, BASE_MS);
      await publishAll(publisher, fleet.messages.slice(0, 5000));
      await waitFor('the first 5,000 stored', () => (standIn.points('iot3', 'telemetry').length >= 5000 ? true : undefined), 60_000, 200);

      // 2. A full write buffer (500) then a soft-deleted database (400 naming no line): both retried, nothing dropped.
      standIn.failNext('buffer_full', 2);
      standIn.failNext('soft_deleted', 2);
      await publishAll(publisher, fleet.messages.slice(5000, 6000));
      await ingestor.waitForLog('the full buffer retried', (line) => line.outcome === 'server_error' && String(line.error).includes('wal buffer full'));

      // 3. An outage: the port closes; the write-ahead log takes the messages meanwhile.
      await waitFor('6,000 stored', () => (standIn.points('iot3', 'telemetry').length >= 6000 ? true : undefined), 60_000, 200);
      await standIn.pause();
      await publishAll(publisher, fleet.messages.slice(6000, 8000));
      await ingestor.waitForLog('the outage noticed', (line) => line.outcome === 'network_error');
      await standIn.resume();

      // 4. One bad line (temperature as a boolean: a column type conflict in v3) among the last readings, in one batch.
      const bad = { topic: 'sensors/plant-1/dev-bad/telemetry', payload: JSON.stringify({ temperature: true, ts: BASE_MS + 5 }) };
      const rest = fleet.messages.slice(8000);
      await publishAll(publisher, [...rest.slice(0, 1000), bad, ...rest.slice(1000)]);
      await publisher.endAsync();

      await waitForAll(standIn, 'iot3', fleet);
      const rejected = await ingestor.waitForLog('the bad line rejected', (line) => line.msg === 'InfluxDB rejected a point for good');
      assert.match(String(rejected.line), /^telemetry,device=dev-bad,location=plant-1 temperature=true /);
      assert.equal(rejected.error, "invalid column type for column 'temperature', expected iox::column_type::field::float, got iox::column_type::field::boolean");
      assertSameDataset(fleet, storedFleet(standIn, 'iot3'));

      // The reject is recorded in ingest_rejects with v3's reason, and it took no bisection: no write of a single line.
      await waitFor('the ingest_rejects point', () => (standIn.points('iot3', 'ingest_rejects').length > 0 ? true : undefined), 20_000, 200);
      const [record] = standIn.points('iot3', 'ingest_rejects');
      assert.deepEqual(record?.tags, { reason: 'influx_rejected', route: 'influxdb' });
      assert.equal(record?.fields.error?.value, rejected.error);
      const partials = standIn.writes.filter((w) => w.status === 400 && w.body.includes('partial write'));
      assert.equal(partials.length, 1, 'one partial write, answered once');
      assert.equal((JSON.parse(partials[0]!.body) as { data: { line_number: number }[] }).data.length, 1, 'one line named');
      assert.ok(standIn.writes.some((w) => w.status === 500 && w.body.includes('wal buffer full')), 'the buffer-full answers were seen');
      assert.ok(standIn.writes.some((w) => w.status === 400 && w.body.includes('soft-deleted')), 'the 400s naming no line were seen');
      assert.ok(standIn.writes.every((w) => w.path === '/api/v3/write_lp'), 'only /api/v3/write_lp');
      assert.equal(await ingestor.stop(), 0);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await standIn.close();
    }
  });

  test('INFLUX_API=v2 at an InfluxDB 3: refused at start, naming INFLUX_API; nothing written', async () => {
    const standIn = await startInflux3StandIn();
    const ingestor = startIngestor({ MQTT_URL: broker.url, INFLUX_URL: standIn.url, INFLUX_API: 'v2', INFLUX_TOKEN: standIn.adminToken, INFLUX_BUCKET: 'iot' });
    try {
      const code = await waitFor('the ingestor to exit', () => ingestor.process.child.exitCode ?? undefined, 20_000);
      assert.equal(code, 2);
      assert.match(ingestor.process.log(), /invalid configuration: INFLUX_API=v2 but INFLUX_URL is InfluxDB 3 Core 3\.10\.1 \(its \/ping says so\): set INFLUX_API=v3/);
      assert.deepEqual(standIn.writes, []);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await standIn.close();
    }
  });

  test('INFLUX_API=v2 at an InfluxDB 3 that was down at start: nothing goes to /api/v2/write, and it is refused once it answers', async () => {
    const standIn = await startInflux3StandIn({ walFlushIntervalMs: 100 });
    await standIn.pause();
    const ingestor = startIngestor({ MQTT_URL: broker.url, INFLUX_URL: standIn.url, INFLUX_API: 'v2', INFLUX_TOKEN: standIn.adminToken, INFLUX_BUCKET: 'iot', ...FAST_RECOVERY });
    try {
      await waitUntilSubscribed(ingestor, TELEMETRY);
      const publisher = await connectPublisher(broker.url);
      await publishAll(publisher, makeFleet(5, 2, BASE_MS).messages);
      await publisher.endAsync();
      await ingestor.waitForLog('unreachable', (line) => line.outcome === 'network_error');
      await standIn.resume();
      const refused = await ingestor.waitForLog('the refusal', (line) => typeof line.msg === 'string' && line.msg.startsWith('INFLUX_API=v2 but INFLUX_URL is InfluxDB 3 Core'));
      assert.equal(refused.level, 50);
      assert.deepEqual(standIn.writes, [], 'not one write through the v2 endpoint');
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await standIn.close();
    }
  });
});

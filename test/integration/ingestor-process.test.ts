/**
 * The ingestor as a process: start-up validation, shutdown, sessions, and
 * writes that wait for InfluxDB. Real Mosquitto and InfluxDB 1.x throughout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { makeFleet } from '../harness/fleet.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';
import { countTelemetry } from '../harness/verify.ts';

const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3600 * 1000;


/** Timestamps InfluxDB holds for the fleet, sorted: content, not just a count. */
async function storedTimestamps(influx: Influx1, db: string): Promise<number[]> {
  return (await influx.query('SELECT temperature FROM telemetry', db)).map((row) => row.time as number).sort((a, b) => a - b);
}

describe('ingestor process', () => {
  test('a malformed environment value: one line naming variable, value and expectation; exit 2', async () => {
    for (const [env, expected] of [
      [{ MQTT_QOS: '7' }, 'sensorflow: invalid configuration: MQTT_QOS="7": expected a whole number from 0 to 2'],
      [{ INFLUX_API: 'v9' }, 'sensorflow: invalid configuration: INFLUX_API="v9": expected one of v2, v1, v3'],
      [{ INFLUX_TOKEN_FILE: '/nonexistent/token' }, 'sensorflow: invalid configuration: INFLUX_TOKEN_FILE="/nonexistent/token": cannot read the file (ENOENT)'],
    ] as const) {
      const ingestor = startIngestor({ ...env });
      try {
        assert.equal(await ingestor.process.exited, 2);
        assert.equal(ingestor.process.log(), `${expected}\n`);
      } finally {
        ingestor.cleanup();
      }
    }
  });

  describe('with Mosquitto and InfluxDB 1.x', () => {
    let broker: Mosquitto;
    let influx: Influx1;
    before(async () => {
      [broker, influx] = await Promise.all([startMosquitto(), startInflux1()]);
    });
    after(async () => {
      await Promise.all([broker.stop(), influx.stop()]);
    });

    test('SIGTERM stops taking messages, writes every buffered point, exits 0', async () => {
      await influx.query('CREATE DATABASE shutdown');
      // Nothing would flush on its own within the test: only shutdown writes.
      const httpPort = await freePort();
      const ingestor = startIngestor({
        MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'shutdown',
        BATCH_SIZE: '100000', FLUSH_INTERVAL_MS: '600000', HTTP_PORT: String(httpPort),
      });
      try {
        await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
        const fleet = makeFleet(10, 50, BASE_MS, ['site']);
        const publisher = await connectPublisher(broker.url);
        await publishAll(publisher, fleet.messages);
        await publisher.endAsync();
        // The broker acknowledged the publisher; wait until the ingestor took them all.
        await waitFor('500 messages taken', async () => {
          const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
          return metrics.includes('sensorflow_points_accepted_total 500\n') ? true : undefined;
        });
        assert.equal(await countTelemetry(influx, 'shutdown'), 0, 'nothing written before shutdown');
        assert.equal(await ingestor.stop(), 0);
        assert.deepEqual(await storedTimestamps(influx, 'shutdown'), [...fleet.expected.values()].map((p) => p.timestampMs).sort((a, b) => a - b));
      } finally {
        ingestor.cleanup();
      }
    });

    test('with MQTT_CLIENT_ID the session persists: messages sent while the ingestor is down arrive after it restarts', async () => {
      await influx.query('CREATE DATABASE session');
      const env = { MQTT_URL: broker.url, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'session', MQTT_CLIENT_ID: 'ingestor-session-test', FLUSH_INTERVAL_MS: '100' };
      const first = startIngestor(env, 'ingestor-first');
      await waitUntilSubscribed(first, ['sensors/+/+/telemetry']);
      assert.equal(await first.stop(), 0);
      first.cleanup();

      const fleet = makeFleet(5, 40, BASE_MS, ['offline-site']);
      const publisher = await connectPublisher(broker.url);
      await publishAll(publisher, fleet.messages);
      await publisher.endAsync();

      const second = startIngestor(env, 'ingestor-second');
      try {
        await second.waitForLog('resumed session', (line) => line.msg === 'connected to the MQTT broker' && line.sessionPresent === true);
        await waitFor('200 queued points', async () => ((await countTelemetry(influx, 'session')) === 200 ? true : undefined), 20_000, 200);
        assert.deepEqual(await storedTimestamps(influx, 'session'), [...fleet.expected.values()].map((p) => p.timestampMs).sort((a, b) => a - b));
      } finally {
        await second.stop();
        second.cleanup();
      }
    });

    test('InfluxDB unreachable: batches are kept and retried until it comes up, then all are written once', async () => {
      const port = await freePort();
      const ingestor = startIngestor({
        MQTT_URL: broker.url, INFLUX_URL: `http://127.0.0.1:${port}`, INFLUX_API: 'v1', INFLUX_BUCKET: 'late', FLUSH_INTERVAL_MS: '100',
      });
      let lateInflux: Influx1 | undefined;
      try {
        await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
        const fleet = makeFleet(4, 25, BASE_MS, ['late-site']);
        const publisher = await connectPublisher(broker.url);
        await publishAll(publisher, fleet.messages);
        await publisher.endAsync();
        await ingestor.waitForLog('a failed write', (line) => line.outcome === 'network_error' && String(line.msg).includes(`INFLUX_URL=http://127.0.0.1:${port} is unreachable`));
        lateInflux = await startInflux1({ port });
        await lateInflux.query('CREATE DATABASE late');
        await waitFor('100 points after recovery', async () => ((await countTelemetry(lateInflux!, 'late')) === 100 ? true : undefined), 60_000, 250);
        assert.deepEqual(await storedTimestamps(lateInflux, 'late'), [...fleet.expected.values()].map((p) => p.timestampMs).sort((a, b) => a - b));
        assert.equal(await ingestor.stop(), 0);
      } finally {
        await ingestor.stop();
        ingestor.cleanup();
        await lateInflux?.stop();
      }
    });
  });
});

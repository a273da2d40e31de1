/** The simulator through real Mosquitto: message shapes, birth and last will. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { REPO_ROOT } from '../harness/ingestor.ts';
import { startProcess, waitFor } from '../harness/process.ts';
import { startMosquitto, type Mosquitto } from '../harness/services.ts';

const TSX = import.meta.resolve('tsx');
const MAIN = join(REPO_ROOT, 'simulator', 'main.ts');

describe('simulator', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  async function collect(): Promise<{ messages: { topic: string; payload: string; retain: boolean }[]; close: () => Promise<void> }> {
    const messages: { topic: string; payload: string; retain: boolean }[] = [];
    const client = await mqtt.connectAsync(broker.url, { clientId: `watch-${Math.random().toString(16).slice(2)}` });
    client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }));
    await client.subscribeAsync('sensors/#', { qos: 1 });
    return { messages, close: () => client.endAsync() };
  }

  test('devices publish JSON telemetry on their own topics, announce themselves, and go offline on a clean stop', async () => {
    const watcher = await collect();
    const sim = startProcess('simulator', process.execPath, ['--import', TSX, MAIN, '--url', broker.url, '--devices', '4', '--locations', '2', '--interval-ms', '100', '--duration', '2', '--quiet'], { cwd: REPO_ROOT });
    assert.equal(await sim.exited, 0);
    await watcher.close();
    const summary = JSON.parse(sim.log().trim().split('\n').at(-1)!) as { devices: number; sent: number; errors: number };
    assert.equal(summary.devices, 4);
    assert.equal(summary.errors, 0);

    const telemetry = watcher.messages.filter((m) => m.topic.endsWith('/telemetry'));
    assert.ok(telemetry.length >= 4 * 10, `readings arrive every 100 ms (${telemetry.length})`);
    assert.equal(telemetry.length, summary.sent);
    assert.deepEqual([...new Set(telemetry.map((m) => m.topic))].sort(), [
      'sensors/site-1/dev-001/telemetry', 'sensors/site-1/dev-003/telemetry', 'sensors/site-2/dev-002/telemetry', 'sensors/site-2/dev-004/telemetry',
    ]);
    for (const { payload } of telemetry) {
      const reading = JSON.parse(payload) as Record<string, number>;
      assert.deepEqual(Object.keys(reading).sort(), ['battery', 'humidity', 'rssi', 'temperature', 'ts']);
      assert.ok(reading.temperature! > 5 && reading.temperature! < 40, payload);
      assert.ok(reading.humidity! >= 0 && reading.humidity! <= 100, payload);
      assert.ok(Math.abs(reading.ts! - Date.now()) < 60_000, payload);
    }
    const status = watcher.messages.filter((m) => m.topic === 'sensors/site-1/dev-001/status').map((m) => m.payload);
    assert.deepEqual(status, ['online', 'offline']);
  });

  test('a device cut off without a clean disconnect is reported offline by its last will', async () => {
    const sim = startProcess('simulator-killed', process.execPath, ['--import', TSX, MAIN, '--url', broker.url, '--devices', '1', '--interval-ms', '1000', '--quiet'], { cwd: REPO_ROOT });
    const watcher = await collect();
    try {
      const status = (): string[] => watcher.messages.filter((m) => m.topic === 'sensors/site-1/dev-001/status' && !m.retain).map((m) => m.payload);
      await waitFor('birth message', () => (status().includes('online') ? true : undefined));
      await sim.kill();
      await waitFor('last will', () => (status().at(-1) === 'offline' ? true : undefined));
      assert.deepEqual(status(), ['online', 'offline']);
    } finally {
      await sim.kill();
      await watcher.close();
    }
  });

  test('a bad flag is a clear error with exit code 2', async () => {
    const sim = startProcess('simulator-bad', process.execPath, ['--import', TSX, MAIN, '--devices', 'many'], { cwd: REPO_ROOT });
    assert.equal(await sim.exited, 2);
    assert.match(sim.log(), /^simulator: --devices "many": expected a whole number from 1 to 100000\n/);
  });
});

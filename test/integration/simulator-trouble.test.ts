/**
 * The simulator's load mode with a fleet in trouble on cue, through real
 * Mosquitto: 1,000 distinct devices at a total rate; at the cue the first
 * 5 % publish a retained "offline" status with its time and then nothing,
 * the next 5 % nothing; every other device keeps publishing. Judged by the
 * messages' own times (payload `ts`) against the cue's (the status `ts`),
 * not by when they arrived. Spawns processes: run under the shared lock.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { REPO_ROOT } from '../harness/ingestor.ts';
import { startProcess } from '../harness/process.ts';
import { startMosquitto, type Mosquitto } from '../harness/services.ts';

const TSX = import.meta.resolve('tsx');
const MAIN = join(REPO_ROOT, 'simulator', 'main.ts');
const id = (i: number): string => `dev-${String(i).padStart(3, '0')}`;

describe('simulator load mode: a fleet in trouble on cue', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('1,000 devices: 50 go offline (retained status with its time), 50 fall silent, the 900 others keep publishing', async () => {
    const newestTs = new Map<string, number>();
    const offlineAt = new Map<string, number>();
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'watch-trouble' });
    watcher.on('message', (topic, payload, packet) => {
      const [, , device, kind] = topic.split('/');
      const body = JSON.parse(payload.toString()) as { ts: number; online?: boolean };
      if (kind === 'status' && body.online === false) offlineAt.set(device!, body.ts);
      if (kind === 'telemetry' && !packet.retain) newestTs.set(device!, Math.max(newestTs.get(device!) ?? 0, body.ts));
    });
    await watcher.subscribeAsync('sensors/#', { qos: 1 });
    const sim = startProcess('simulator-trouble', process.execPath, ['--import', TSX, MAIN, '--url', broker.url, '--devices', '1000', '--locations', '20', '--rate', '2000',
      '--connections', '2', '--offline-share', '0.05', '--silent-share', '0.05', '--trouble-at', '2', '--duration', '5', '--quiet'], { cwd: REPO_ROOT });
    assert.equal(await sim.exited, 0);
    await watcher.endAsync();
    const summary = JSON.parse(sim.log().trim().split('\n').at(-1)!) as { devices: number; offline: number; silent: number; errors: number };
    assert.deepEqual([summary.devices, summary.offline, summary.silent, summary.errors], [1000, 50, 50, 0]);
    assert.deepEqual([...offlineAt.keys()].sort(), Array.from({ length: 50 }, (_, i) => id(i + 1)), 'the first 50 said offline');
    const cue = Math.min(...offlineAt.values());
    for (let i = 1; i <= 1000; i += 1) {
      const newest = newestTs.get(id(i));
      if (i <= 100) assert.ok(newest === undefined || newest <= cue, `${id(i)} in trouble: nothing after the cue (${newest} > ${cue})`);
      else assert.ok(newest !== undefined && newest > cue + 1000, `${id(i)} talks on after the cue`);
    }
  });
});

/**
 * The reading rules (temperature, humidity out of range, battery low) over
 * the per-minute rollups (grafana/src/readings.ts), on real InfluxDB 1.x,
 * evaluated as Grafana 12.0.2 does (test/harness/grafana-eval.ts), minute by
 * minute with `for`. The rollups are written as the ingestor writes them
 * (ingestor/rollups/book.ts), by two instances of a shared group, with their
 * heartbeat.
 *
 * - out-of-range devices fire (after `for`), in-range ones never; the result
 *   holds one series per device out of range plus one heartbeat, not one per
 *   device;
 * - the mean merges two instances' rollups as sum / count: a device whose
 *   instances' means would average out of range but whose readings do not,
 *   never fires, and the other way round;
 * - nobody out of range is one Normal heartbeat series, not NoData; no
 *   rollup at all is NoData, which the rules take as OK (as before).
 *
 * Starts InfluxDB: run under the shared lock.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ruleGroups, type AlertRule } from '../../grafana/src/alert-rules.ts';
import { parseThresholds } from '../../grafana/src/thresholds.ts';
import { evaluateRule, labelKey, simulate, type Labels } from '../harness/grafana-eval.ts';
import { REPO_ROOT } from '../harness/ingestor.ts';
import { startInflux1, type Influx1 } from '../harness/services.ts';

const MINUTE = 60_000;
const thresholds = parseThresholds(readFileSync(join(REPO_ROOT, 'grafana', 'thresholds.yaml'), 'utf8'));
const rules = new Map(ruleGroups(thresholds).flatMap((g) => g.rules).map((r) => [r.uid, r]));
const rule = (uid: string): AlertRule => rules.get(uid) ?? assert.fail(`no rule ${uid}`);
const key = (device: string, location: string, group: string): string => labelKey({ device, group, location } satisfies Labels);
const HEARTBEAT = labelKey({ device: '', group: '', location: '' });

let influx: Influx1;
const now = Math.floor(Date.now() / MINUTE) * MINUTE;

/** One rollup line as the ingestor writes it: per field min/max/sum/count. */
function rollup(device: string, location: string, group: string, instance: string, at: number, fields: Record<string, { min: number; max: number; sum: number; count: number }>): string {
  const values = Object.entries(fields).map(([f, s]) => `${f}_min=${s.min},${f}_max=${s.max},${f}_sum=${s.sum},${f}_count=${s.count}i`).join(',');
  return `telemetry_1m,device=${device},group=${group},instance=${instance},location=${location} ${values} ${at}`;
}
const constant = (value: number, count = 6) => ({ min: value, max: value, sum: value * count, count });

async function write(db: string, lines: readonly string[]): Promise<void> {
  await influx.query(`CREATE DATABASE ${db}`);
  const response = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
  assert.equal(response.status, 204, await response.text());
}

before(async () => {
  influx = await startInflux1();
  const lines: string[] = [];
  for (let at = now - 80 * MINUTE; at <= now - MINUTE; at += MINUTE) {
    for (const instance of ['ing-a', 'ing-b']) lines.push(`telemetry_1m,instance=${instance} devices=3i ${at}`);
    // Normal devices, split over the two instances.
    for (let i = 1; i <= 20; i += 1) {
      lines.push(rollup(`ok-${i}`, `site-${i % 4}`, 'production', i % 2 === 0 ? 'ing-a' : 'ing-b', at, { temperature: constant(20 + (i % 5)), humidity: constant(50), battery: constant(80) }));
    }
    // Overheated for the last 20 minutes.
    const hot = at >= now - 20 * MINUTE;
    lines.push(rollup('hot-1', 'site-1', 'production', 'ing-a', at, { temperature: constant(hot ? 45 : 22), humidity: constant(50), battery: constant(70) }));
    // Its instances' means are 80 (1 reading) and 30 (9 readings): the mean of the readings is 35, in range; a mean of means (55) would fire.
    lines.push(rollup('merge-1', 'site-2', 'gateways', 'ing-a', at, { temperature: { min: 80, max: 80, sum: 80, count: 1 } }));
    lines.push(rollup('merge-1', 'site-2', 'gateways', 'ing-b', at, { temperature: { min: 30, max: 30, sum: 270, count: 9 } }));
    // Its instances' means are 39 and 45 (both near or over 40), over 1 and 9 readings: the readings' mean is 44.4, out of range.
    lines.push(rollup('merge-2', 'site-2', 'gateways', 'ing-a', at, { temperature: { min: 39, max: 39, sum: 39, count: 1 } }));
    lines.push(rollup('merge-2', 'site-2', 'gateways', 'ing-b', at, { temperature: { min: 45, max: 45, sum: 405, count: 9 } }));
    // Battery: down to 9 % in its newest minutes.
    lines.push(rollup('weak-1', 'site-3', 'production', 'ing-b', at, { temperature: constant(21), humidity: constant(95), battery: { min: at >= now - 30 * MINUTE ? 9 : 60, max: 61, sum: 300, count: 6 } }));
  }
  await write('readings', lines);
  // Nobody out of range: the normal devices and the heartbeat only.
  await write('calm', lines.filter((line) => !/device=(hot|merge|weak)-/.test(line)));
  await influx.query('CREATE DATABASE nothing');
});
after(async () => {
  await influx?.stop();
});

const times = (): number[] => Array.from({ length: 41 }, (_, i) => now - (40 - i) * MINUTE);

describe('reading rules over the rollups, as Grafana 12.0.2 evaluates them', () => {
  test('temperature: the overheated device and the one whose readings average out of range fire; the merge that only a mean of means would fire does not', async () => {
    const simulation = await simulate(rule('sensorflow-temperature-out-of-range'), influx.url, 'readings', times());
    assert.deepEqual(Object.fromEntries(simulation.final), { [key('hot-1', 'site-1', 'production')]: 'Alerting', [key('merge-2', 'site-2', 'gateways')]: 'Alerting' });
    // hot-1 reads 45 from 20 minutes ago on; the window's minutes (start in [t - 5m, t]: six of them) average above 40 once five
    // of them are hot (t = -16 min), and `for: 5m` makes it Alerting 5 minutes later (-11 min), as on raw data.
    const firstAlerting = simulation.timeline.find((step) => step.states.get(key('hot-1', 'site-1', 'production')) === 'Alerting')?.at;
    assert.ok(firstAlerting !== undefined && firstAlerting >= now - 12 * MINUTE && firstAlerting <= now - 10 * MINUTE, `first Alerting at ${firstAlerting !== undefined ? (firstAlerting - now) / MINUTE : 'never'} min`);
  });

  test('the result holds the devices out of range plus one heartbeat series, not one series per device', async () => {
    const evaluation = await evaluateRule(rule('sensorflow-temperature-out-of-range'), influx.url, 'readings', now);
    assert.equal(evaluation.noData, false);
    assert.deepEqual([...evaluation.instances.keys()].sort(), [HEARTBEAT, key('hot-1', 'site-1', 'production'), key('merge-2', 'site-2', 'gateways')].sort());
    assert.equal(evaluation.instances.get(HEARTBEAT)?.value, 0, 'the heartbeat never fires');
  });

  test('humidity and battery: the device at 95 %RH and at 9 % fire, nothing else', async () => {
    assert.deepEqual(Object.fromEntries((await simulate(rule('sensorflow-humidity-out-of-range'), influx.url, 'readings', times())).final), { [key('weak-1', 'site-3', 'production')]: 'Alerting' });
    assert.deepEqual(Object.fromEntries((await simulate(rule('sensorflow-battery-low'), influx.url, 'readings', times())).final), { [key('weak-1', 'site-3', 'production')]: 'Alerting' });
  });

  test('nobody out of range is one Normal heartbeat series, not NoData; no rollup at all is NoData, taken as OK', async () => {
    for (const uid of ['sensorflow-temperature-out-of-range', 'sensorflow-humidity-out-of-range', 'sensorflow-battery-low']) {
      const calm = await evaluateRule(rule(uid), influx.url, 'calm', now);
      assert.equal(calm.noData, false, uid);
      assert.deepEqual([...calm.instances.keys()], [HEARTBEAT], uid);
      assert.equal(calm.instances.get(HEARTBEAT)?.value, 0, uid);
      const nothing = await evaluateRule(rule(uid), influx.url, 'nothing', now);
      assert.equal(nothing.noData, true, uid);
      assert.equal(rule(uid).noDataState, 'OK');
      assert.deepEqual(Object.fromEntries((await simulate(rule(uid), influx.url, 'nothing', times().slice(-3))).final), {}, uid);
    }
  });
});

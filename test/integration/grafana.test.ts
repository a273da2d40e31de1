/**
 * Every dashboard query and alert rule on real data, evaluated the way
 * Grafana does (test/harness/grafana-eval.ts):
 * - live: Mosquitto + the ingestor + the simulator with a scenario (a device
 *   drops off by last will, a location overheats, a burst of malformed
 *   messages) into InfluxDB 1.x; every panel's and variable's query is
 *   expanded and run, and every rule's condition is evaluated;
 * - history: points written directly (a device offline for 3 days, one for
 *   20 minutes, one back again, a silent device, a dead and a stuck ingestor),
 *   rules evaluated minute by minute over the last 70 minutes with `for`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ruleGroups, type AlertRule } from '../../grafana/src/alert-rules.ts';
import { dashboards } from '../../grafana/src/dashboards.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import { evaluateRule, isFiring, labelKey, renderPanelQuery, runInfluxQL, simulate, type InfluxSeries, type Labels, type VariableValue } from '../harness/grafana-eval.ts';
import { REPO_ROOT, startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { startProcess, waitFor, type ManagedProcess } from '../harness/process.ts';
import { startInflux1, startMosquitto, type Influx1, type Mosquitto } from '../harness/services.ts';

const thresholds = loadThresholds();
const rules = new Map(ruleGroups(thresholds).flatMap((g) => g.rules).map((r) => [r.uid, r]));
const rule = (uid: string): AlertRule => rules.get(uid) ?? assert.fail(`no rule ${uid}`);
const INSTANCE = 'grafana-test-ingestor';
const GROUP_OF: Record<string, string> = { 'dev-001': 'production', 'dev-002': 'production', 'dev-003': 'production', 'dev-004': 'gateways', 'dev-005': 'gateways', 'dev-006': 'gateways' };
const LOCATION_OF: Record<string, string> = { 'dev-001': 'site-1', 'dev-002': 'site-2', 'dev-003': 'site-3', 'dev-004': 'site-1', 'dev-005': 'site-2', 'dev-006': 'site-3' };
const place = (device: string): Labels => ({ device, group: GROUP_OF[device]!, location: LOCATION_OF[device]! });

/** The label sets a rule fires for at `now`, sorted. */
async function firing(influx: Influx1, db: string, uid: string, now = Date.now()): Promise<Labels[]> {
  const evaluation = await evaluateRule(rule(uid), influx.url, db, now);
  return [...evaluation.instances.values()].filter(isFiring).map((i) => i.labels).sort((a, b) => labelKey(a).localeCompare(labelKey(b)));
}

describe('Grafana dashboards and alert rules on real data', () => {
  let influx: Influx1;
  let broker: Mosquitto;
  let ingestor: Ingestor;
  let simulator: ManagedProcess;
  let dir: string;
  let startedAt: number;
  let beforeBurst: number;

  before(async () => {
    influx = await startInflux1();
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-grafana-'));
    writeFileSync(join(dir, 'devices.yaml'), `devices:\n${Object.keys(GROUP_OF).map((d) => `  ${d}: { location: ${LOCATION_OF[d]}, group: ${GROUP_OF[d]} }`).join('\n')}\n`);
    writeFileSync(join(dir, 'scenario.yaml'), [
      'name: grafana test',
      'events:',
      '  - { at: 2s, action: offline, devices: [dev-002], for: 10m }',
      '  - { at: 1s, action: set, location: site-3, field: temperature, value: 45, for: 10m }',
      '  - { at: 12s, action: malformed, devices: [dev-005], count: 50 }',
      '',
    ].join('\n'));
    await influx.query('CREATE DATABASE iot');
    await influx.query('CREATE DATABASE history');
    await influx.query('CREATE DATABASE empty');
    ingestor = startIngestor({
      MQTT_URL: broker.url, MQTT_CLIENT_ID: INSTANCE, MQTT_TOPICS: 'sensors/+/+/telemetry,sensors/+/+/status',
      INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'iot', FLUSH_INTERVAL_MS: '100', STATS_INTERVAL_MS: '1000',
      DEVICES_FILE: join(dir, 'devices.yaml'), DEVICE_DIRECTORY_FILE: join(dir, 'learned.json'), WAL_DIR: join(dir, 'wal'),
    });
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
    startedAt = Date.now();
    simulator = startProcess('simulator-grafana', process.execPath, [
      '--import', import.meta.resolve('tsx'), join(REPO_ROOT, 'simulator', 'main.ts'), '--url', broker.url,
      '--devices', '6', '--locations', '3', '--interval-ms', '500', '--churn-per-hour', '0', '--seed', '3', '--quiet', '--scenario', join(dir, 'scenario.yaml'),
    ], { cwd: REPO_ROOT });
    // The last will of dev-002 is stored, and stats cover the time before the burst.
    await waitFor('dev-002 offline in InfluxDB', async () => ((await influx.query(`SELECT last("online") FROM device_presence WHERE device = 'dev-002'`, 'iot'))[0]?.last === 0 ? true : undefined), 20_000);
    await waitFor('10 s of stats', () => (Date.now() - startedAt > 10_000 ? true : undefined), 20_000, 200);
    beforeBurst = Date.now();
    await waitFor('the malformed burst counted in ingestor_stats', async () => {
      const rows = await influx.query(`SELECT last("rejects") FROM ingestor_stats WHERE instance = '${INSTANCE}'`, 'iot');
      return (rows[0]?.last as number | undefined ?? 0) >= 50 ? true : undefined;
    }, 30_000);
    await writeHistory(influx);
  });

  after(async () => {
    await simulator?.kill();
    await ingestor?.stop();
    ingestor?.cleanup();
    await broker?.stop();
    await influx?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('dashboards: every panel and variable query, expanded as Grafana does, on the live data', () => {
    const all: VariableValue = { values: [], all: true, allValue: '.*' };
    const context = (variables: Record<string, VariableValue> = {}) => ({ fromMs: startedAt - 60_000, toMs: Date.now(), variables: { location: all, group: all, device: all, instance: all, ...variables } });
    const run = async (query: string, variables?: Record<string, VariableValue>): Promise<InfluxSeries[]> => runInfluxQL(influx.url, 'iot', renderPanelQuery(query, context(variables)));
    const column = (series: InfluxSeries[], name: string): unknown[] => series.flatMap((s) => s.values.map((row) => row[s.columns.indexOf(name)]));
    const tagValues = (series: InfluxSeries[], tag: string): string[] => [...new Set(series.map((s) => s.tags[tag]!))].sort();
    const panelQuery = (uid: string, title: string, refId = 'A'): string =>
      dashboards(thresholds).find((d) => d.uid === uid)!.panels.find((p) => p.title === title)!.targets.find((t) => t.refId === refId)!.query;

    test('every query of every panel and variable parses and returns data', async () => {
      for (const dashboard of dashboards(thresholds)) {
        for (const variable of dashboard.templating.list) {
          assert.ok(column(await run(variable.query), 'value').length > 0, `${dashboard.uid} variable ${variable.name}`);
        }
        for (const panel of dashboard.panels) {
          for (const target of panel.targets) {
            const series = await run(target.query);
            assert.ok(series.length > 0 && series.some((s) => s.values.length > 0), `${dashboard.uid} / ${panel.title} / ${target.refId} returned nothing`);
          }
        }
      }
    });

    test('variables: locations, groups from the registry, devices of the chosen location', async () => {
      assert.deepEqual(column(await run('SHOW TAG VALUES FROM "device_presence" WITH KEY = "location"'), 'value').sort(), ['site-1', 'site-2', 'site-3']);
      const [, group, device] = dashboards(thresholds)[0]!.templating.list;
      assert.deepEqual(column(await run(group!.query), 'value').sort(), ['gateways', 'production']);
      assert.deepEqual(column(await run(device!.query, { location: { values: ['site-2'] } }), 'value').sort(), ['dev-002', 'dev-005']);
      assert.deepEqual(column(await run(device!.query, { location: { values: ['site-1', 'site-2'] }, group: { values: ['gateways'] } }), 'value').sort(), ['dev-004', 'dev-005']);
    });

    test('fleet overview: 5 online, 1 offline, 1 went offline; the table has every device with its place and state', async () => {
      const uid = 'sensorflow-fleet';
      assert.deepEqual(column(await run(panelQuery(uid, 'Online now')), 'online'), [5]);
      assert.deepEqual(column(await run(panelQuery(uid, 'Offline now')), 'offline'), [1]);
      assert.deepEqual(column(await run(panelQuery(uid, 'Went offline in range')), 'devices'), [1]);
      const state = await run(panelQuery(uid, 'Devices', 'A'));
      assert.deepEqual(state.map((s) => [s.tags.device, column([s], 'online')[0], column([s], 'location')[0], column([s], 'group')[0]]).sort(),
        Object.keys(GROUP_OF).map((d) => [d, d === 'dev-002' ? 0 : 1, LOCATION_OF[d], GROUP_OF[d]]));
      for (const refId of ['B', 'C', 'D']) assert.deepEqual(tagValues(await run(panelQuery(uid, 'Devices', refId)), 'device'), Object.keys(GROUP_OF), refId);
      const battery = column(await run(panelQuery(uid, 'Devices', 'C')), 'battery') as number[];
      assert.ok(battery.every((b) => b > 0 && b <= 100), String(battery));
    });

    test('sensor telemetry: a series per device, multi-select locations filter them, site-3 reads 45 °C', async () => {
      const uid = 'sensorflow-telemetry';
      const perDevice = await run(panelQuery(uid, 'Temperature per device'));
      assert.deepEqual(tagValues(perDevice, 'device'), Object.keys(GROUP_OF));
      const chosen = await run(panelQuery(uid, 'Temperature per device'), { location: { values: ['site-1', 'site-3'] } });
      assert.deepEqual(tagValues(chosen, 'device'), ['dev-001', 'dev-003', 'dev-004', 'dev-006']);
      const perLocation = await run(panelQuery(uid, 'Temperature per location: min / mean / max'));
      assert.deepEqual(tagValues(perLocation, 'location'), ['site-1', 'site-2', 'site-3']);
      assert.equal(Math.max(...(column(perLocation.filter((s) => s.tags.location === 'site-3'), 'max') as number[])), 45);
      const summary = await run(panelQuery(uid, 'Min / mean / max per device in range'));
      assert.equal(column(summary.filter((s) => s.tags.device === 'dev-006'), 'temperature max')[0], 45);
    });

    test('device presence: dev-002\'s last will is a disconnect from source lwt, every device has a timeline', async () => {
      const uid = 'sensorflow-presence';
      assert.deepEqual(tagValues(await run(panelQuery(uid, 'Online / offline per device')), 'device'), Object.keys(GROUP_OF));
      const disconnects = await run(panelQuery(uid, 'Disconnects and their reasons'));
      assert.deepEqual([...new Set(column(disconnects, 'device'))], ['dev-002']);
      assert.deepEqual([...new Set(column(disconnects, 'source'))], ['lwt']);
      assert.deepEqual(tagValues(await run(panelQuery(uid, 'Presence events by source')), 'source'), ['lwt']);
      assert.equal(column(await run(panelQuery(uid, 'Flapping devices (most reconnects)')), 'device').length, 6);
    });

    test('pipeline health: per instance, rejects by reason include the burst', async () => {
      const uid = 'sensorflow-pipeline';
      assert.deepEqual(tagValues(await run(panelQuery(uid, 'Messages in / points written per second')), 'instance'), [INSTANCE]);
      const reasons = tagValues(await run(panelQuery(uid, 'Rejects by reason')), 'reason');
      assert.ok(reasons.includes('invalid_json'), reasons.join());
      assert.deepEqual(column(await run(panelQuery(uid, 'MQTT connected')), 'last').filter((v) => v !== null).at(-1), 1);
    });
  });

  describe('alert rules on the live data (their conditions now)', () => {
    test('device offline: exactly dev-002, with its location and group; online devices do not fire', async () => {
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-device-offline'), [place('dev-002')]);
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-device-offline-critical'), [place('dev-002')]);
      const evaluation = await evaluateRule(rule('sensorflow-device-offline'), influx.url, 'iot', Date.now());
      assert.equal(evaluation.instances.size, 6, 'every device is evaluated');
    });

    test('temperature: the overheated location fires (both its devices), nothing else', async () => {
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-temperature-out-of-range'), [place('dev-003'), place('dev-006')]);
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-humidity-out-of-range'), []);
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-battery-low'), []);
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-device-silent'), [], 'devices publishing every 500 ms are not silent');
    });

    test('pipeline: healthy before the burst, rejects surging after it, nothing else', async () => {
      for (const uid of ['sensorflow-write-retries', 'sensorflow-rejects', 'sensorflow-backlog', 'sensorflow-ingestor-silent', 'sensorflow-no-telemetry']) {
        assert.deepEqual(await firing(influx, 'iot', uid, beforeBurst), [], `${uid} before the burst`);
      }
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-rejects'), [{ instance: INSTANCE }]);
      for (const uid of ['sensorflow-write-retries', 'sensorflow-backlog', 'sensorflow-ingestor-silent', 'sensorflow-no-telemetry']) {
        assert.deepEqual(await firing(influx, 'iot', uid), [], `${uid} after the burst`);
      }
    });
  });

  describe('alert rules over history, minute by minute with `for`', () => {
    const times = (): number[] => Array.from({ length: 71 }, (_, i) => historyNow - (70 - i) * 60_000);
    const states = async (uid: string, db = 'history'): Promise<Record<string, string>> =>
      Object.fromEntries([...(await simulate(rule(uid), influx.url, db, times()))].map(([key, state]) => [key, state]));
    const key = (labels: Labels): string => labelKey(labels);
    const h = (device: string, location: string, group: string): string => key({ device, group, location });

    test('offline: 3 days away fires warning and critical; 20 minutes away is warning, critical pending; back again resolved; never under location unknown', async () => {
      assert.deepEqual(await states('sensorflow-device-offline'), {
        [h('dev-h1', 'site-a', 'production')]: 'Alerting',
        [h('dev-h2', 'site-a', 'production')]: 'Alerting',
        [h('dev-h4', 'site-b', 'gateways')]: 'Alerting',
      });
      assert.deepEqual(await states('sensorflow-device-offline-critical'), {
        [h('dev-h1', 'site-a', 'production')]: 'Alerting',
        [h('dev-h2', 'site-a', 'production')]: 'Pending',
        [h('dev-h4', 'site-b', 'gateways')]: 'Alerting',
      });
    });

    test('silent: the online device with no reading for 15 minutes fires; the one reporting does not', async () => {
      assert.deepEqual(await states('sensorflow-device-silent'), { [h('dev-h5', 'site-c', 'production')]: 'Alerting' });
    });

    test('battery low fires for the device at 9 %; temperature and humidity in range fire nothing', async () => {
      assert.deepEqual(await states('sensorflow-battery-low'), { [h('dev-h6', 'site-c', 'production')]: 'Alerting' });
      assert.deepEqual(await states('sensorflow-temperature-out-of-range'), {});
      assert.deepEqual(await states('sensorflow-humidity-out-of-range'), {});
    });

    test('pipeline: the dead instance is not reporting, the stuck one retries with a growing backlog, the live one is fine', async () => {
      assert.deepEqual(await states('sensorflow-ingestor-silent'), { [key({ instance: 'ingestor-dead' })]: 'Alerting' });
      assert.deepEqual(await states('sensorflow-write-retries'), { [key({ instance: 'ingestor-stuck' })]: 'Alerting' });
      assert.deepEqual(await states('sensorflow-backlog'), { [key({ instance: 'ingestor-stuck' })]: 'Alerting' });
      assert.deepEqual(await states('sensorflow-rejects'), {});
      assert.deepEqual(await states('sensorflow-no-telemetry'), {});
    });

    test('an empty database: no telemetry and no ingestor fire (NoData → Alerting); device rules stay quiet (NoData → OK)', async () => {
      assert.deepEqual(await states('sensorflow-no-telemetry', 'empty'), { [key({})]: 'Alerting' });
      assert.deepEqual(await states('sensorflow-ingestor-silent', 'empty'), { [key({})]: 'Alerting' });
      for (const uid of ['sensorflow-device-offline', 'sensorflow-device-silent', 'sensorflow-temperature-out-of-range', 'sensorflow-write-retries']) {
        assert.deepEqual(await states(uid, 'empty'), {}, uid);
      }
    });
  });
});

/** Crafted history, written as line protocol (ms). */
let historyNow = 0;

async function writeHistory(influx: Influx1): Promise<void> {
  const now = Date.now();
  historyNow = now;
  const min = 60_000;
  const lines: string[] = [];
  const presence = (device: string, location: string, group: string, source: string, online: 0 | 1, at: number, reason = ''): void => {
    lines.push(`device_presence,device=${device},group=${group},location=${location},source=${source} online=${online}i,event="${online ? 'connected' : 'disconnected'}",reason="${reason}" ${at}`);
  };
  presence('dev-h1', 'site-a', 'production', 'emqx', 1, now - 4 * 86_400_000);
  presence('dev-h1', 'site-a', 'production', 'lwt', 0, now - 3 * 86_400_000, 'last will');
  presence('dev-h2', 'site-a', 'production', 'emqx', 1, now - 120 * min);
  presence('dev-h2', 'site-a', 'production', 'emqx', 0, now - 20 * min, 'keepalive_timeout');
  presence('dev-h3', 'site-b', 'gateways', 'lwt', 0, now - 50 * min, 'last will');
  presence('dev-h3', 'site-b', 'gateways', 'emqx', 1, now - 10 * min);
  // First EMQX connect before any telemetry named the place: location unknown.
  presence('dev-h4', 'unknown', 'unknown', 'emqx', 1, now - 180 * min);
  presence('dev-h4', 'site-b', 'gateways', 'lwt', 0, now - 120 * min, 'last will');
  presence('dev-h5', 'site-c', 'production', 'emqx', 1, now - 200 * min);
  presence('dev-h6', 'site-c', 'production', 'lwt', 1, now - 200 * min);
  for (let t = now - 180 * min; t <= now; t += 30_000) {
    if (t < now - 15 * min) lines.push(`telemetry,device=dev-h5,group=production,location=site-c temperature=21.5,humidity=50,battery=80,rssi=-60 ${t}`);
    lines.push(`telemetry,device=dev-h6,group=production,location=site-c temperature=22.5,humidity=55,battery=9,rssi=-65 ${t}`);
  }
  for (let i = 0, t = now - 90 * min; t <= now; i += 1, t += 10_000) {
    const stats = (instance: string, retries: number, backlog: number) =>
      `ingestor_stats,instance=${instance} messages_in=${i * 10},points_accepted=${i * 10},points_written=${i * 10},points_rejected_by_influx=0,write_retries=${retries},rejects=0,backlog_bytes=${backlog},wal_bytes=${backlog + 4096},mqtt_connected=1 ${t}`;
    lines.push(stats('ingestor-live', 0, 0));
    lines.push(stats('ingestor-stuck', i, 2_000_000 + i * 20_000));
    if (t > now - 120 * min && t < now - 20 * min) lines.push(stats('ingestor-dead', 0, 0));
  }
  const response = await fetch(`${influx.url}/write?db=history&precision=ms`, { method: 'POST', body: lines.join('\n') });
  assert.equal(response.status, 204, await response.text());
}

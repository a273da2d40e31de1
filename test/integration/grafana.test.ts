/**
 * Every dashboard query and alert rule on real data, evaluated the way
 * Grafana does (test/harness/grafana-eval.ts):
 * - live: Mosquitto + the ingestor + the simulator with a scenario (a device
 *   drops off by last will, a location overheats, a burst of malformed
 *   messages) into InfluxDB 1.x; every panel's and variable's query is
 *   expanded and run, and every rule's condition is evaluated;
 * - history: points written directly (a device offline for 3 days, one for
 *   20 minutes, one back again, a silent device, a dead and a stuck ingestor,
 *   ingestors catching up for 15 minutes, for 2, or since they started),
 *   rules evaluated minute by minute over the last 70 minutes with `for`;
 * - liveness history: device_state and device_trouble written by the
 *   ingestor's own LivenessTicker (per instance, its clock set to each
 *   minute), the device rules evaluated minute by minute over 40 minutes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { ruleGroups, type AlertRule } from '../../grafana/src/alert-rules.ts';
import { dashboards, SUMMARY_COLUMNS } from '../../grafana/src/dashboards.ts';
import { loadThresholds, parseThresholds, THRESHOLDS_FILE } from '../../grafana/src/thresholds.ts';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { parseRegistry } from '../../ingestor/directory/registry.ts';
import { LagCounter } from '../../ingestor/liveness/catch-up.ts';
import { LivenessTicker } from '../../ingestor/liveness/ticker.ts';
import { emptyStats } from '../../ingestor/pipeline/stats.ts';
import { MemoryLog } from '../harness/memory-ingest.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { createTheme, getFieldDisplayValues, TAG_ORDERS, tableFrame, tableView, transform } from '../harness/grafana-frontend.ts';
import { defaultVariables, evaluateRule, isFiring, labelKey, renderPanelQuery, runInfluxQL, simulate, type InfluxSeries, type Labels, type VariableValue } from '../harness/grafana-eval.ts';
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
/** Registered with a place and group, sends telemetry only: no presence source. */
const TELEMETRY_ONLY = 'tele-001';
/** Thresholds short enough for a live test (device_state every second): a 5 s window, offline after 3 s, silent after 5 s (the ingestor's DEVICE_TROUBLE_SILENT_AFTER: 3 s). */
const liveThresholds = parseThresholds(readFileSync(THRESHOLDS_FILE, 'utf8')
  .replace(/window: \S+/, 'window: 5s')
  .replace(/offline_warning_after: \S+/, 'offline_warning_after: 3s')
  .replace(/(\n {2}after:) \S+/, '$1 5s'));
const liveRules = new Map(ruleGroups(liveThresholds).flatMap((g) => g.rules).map((r) => [r.uid, r]));

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
    writeFileSync(join(dir, 'devices.yaml'), `devices:\n${Object.keys(GROUP_OF).map((d) => `  ${d}: { location: ${LOCATION_OF[d]}, group: ${GROUP_OF[d]} }`).join('\n')}\n  ${TELEMETRY_ONLY}: { location: site-9, group: field }\n`);
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
      DEVICE_STATE_INTERVAL_S: '1', DEVICE_TROUBLE_SILENT_AFTER: '3s', ROLLUPS: 'true', ROLLUP_GRACE_S: '1',
    });
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
    startedAt = Date.now();
    simulator = startProcess('simulator-grafana', process.execPath, [
      '--import', import.meta.resolve('tsx'), join(REPO_ROOT, 'simulator', 'main.ts'), '--url', broker.url,
      '--devices', '6', '--locations', '3', '--interval-ms', '500', '--churn-per-hour', '0', '--seed', '3', '--quiet', '--scenario', join(dir, 'scenario.yaml'),
    ], { cwd: REPO_ROOT });
    // The last will of dev-002 is stored, and stats cover the time before the burst.
    await waitFor('dev-002 offline in InfluxDB', async () => ((await influx.query(`SELECT last("online") FROM device_presence WHERE device = 'dev-002'`, 'iot'))[0]?.last === 0 ? true : undefined), 20_000);
    // A device behind a gateway: telemetry only (no status topic, no last will), three readings, then nothing.
    const publisher = await connectPublisher(broker.url);
    // A millisecond apart: readings of one device with the same time are one point in InfluxDB (the last overwrites),
    // while the rollups count each message, so equal times would make Readings in range differ from the raw count.
    const sentAt = Date.now();
    await publishAll(publisher, [0, 1, 2].map((i) => ({ topic: `sensors/site-9/${TELEMETRY_ONLY}/telemetry`, payload: JSON.stringify({ temperature: 20 + i, ts: sentAt - 2 + i }) })));
    await publisher.endAsync();
    await waitFor('device_state of every device, the telemetry-only one included', async () => {
      const rows = await influx.query(`SELECT last("state") AS "state" FROM device_state WHERE time > now() - 1m GROUP BY "device"`, 'iot');
      return rows.length === 7 ? true : undefined;
    }, 20_000, 200);
    await waitFor('10 s of stats', () => (Date.now() - startedAt > 10_000 ? true : undefined), 20_000, 200);
    beforeBurst = Date.now();
    await waitFor('the malformed burst counted in ingestor_stats', async () => {
      const rows = await influx.query(`SELECT last("rejects") FROM ingestor_stats WHERE instance = '${INSTANCE}'`, 'iot');
      return (rows[0]?.last as number | undefined ?? 0) >= 50 ? true : undefined;
    }, 30_000);
    await writeHistory(influx);
    // The reading rules and the per-location panel read the per-minute rollups (ROLLUP_GRACE_S=1). The rule fires on
    // a device's mean over 5 min, so wait for a closed minute read wholly at 45 °C at site-3 (its min is 45): the first
    // minute may hold the readings from before the scenario's set, and one 21 °C beside one 45 °C averages in range.
    // Up to two minutes: the mixed minute, then a whole one.
    await waitFor('a closed minute of rollups for site-3 wholly at 45 °C', async () => ((await influx.query(`SELECT last("temperature_min") FROM telemetry_location_1m WHERE "location" = 'site-3'`, 'iot'))[0]?.last === 45 ? true : undefined), 150_000, 500);
    await influx.query('CREATE DATABASE liveness');
    await writeLivenessHistory(influx);
    await influx.query('CREATE DATABASE calm');
    await writeCalmFleet(influx);
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

    test('every query of every panel and variable parses and returns data, at the saved defaults (the per-device dashboards on their first device) and on dev-002', async () => {
      for (const dashboard of dashboards(thresholds)) {
        const range = { fromMs: startedAt - 60_000, toMs: Date.now() };
        const defaults = await defaultVariables(dashboard.templating.list, range, async (name, rendered) => {
          const options = await runInfluxQL(influx.url, 'iot', rendered);
          assert.ok(column(options, 'value').length > 0, `${dashboard.uid} variable ${name}`);
          return options;
        });
        const perDevice = dashboard.uid === 'sensorflow-telemetry' || dashboard.uid === 'sensorflow-presence';
        // As Grafana opens them: Device All on the Fleet overview, the first device by name where it has no All.
        assert.deepEqual(defaults.device, dashboard.uid === 'sensorflow-pipeline' ? undefined : perDevice ? { values: ['dev-001'] } : { values: [], all: true, allValue: '.*' }, dashboard.uid);
        // dev-002 is the device with a disconnect, which the presence panels of the picked devices need.
        for (const variables of [defaults, { ...defaults, ...(perDevice && { device: { values: ['dev-002'] } }) }]) {
          for (const panel of dashboard.panels) {
            for (const target of panel.targets) {
              if (perDevice && variables === defaults && panel.title === 'Disconnects and their reasons') continue; // dev-001 never disconnected
              const series = await runInfluxQL(influx.url, 'iot', renderPanelQuery(target.query, { ...range, variables }));
              assert.ok(series.length > 0 && series.some((s) => s.values.length > 0), `${dashboard.uid} / ${panel.title} / ${target.refId} / ${JSON.stringify(variables.device)} returned nothing`);
            }
          }
        }
      }
    });

    test('every query of every panel and variable parses and returns data with every variable at All', async () => {
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

    test('variables from device_state: every device, the telemetry-only one included; locations, groups from the registry', async () => {
      const [location, group, device] = dashboards(thresholds)[0]!.templating.list;
      assert.deepEqual(column(await run(location!.query), 'value').sort(), ['site-1', 'site-2', 'site-3', 'site-9']);
      assert.deepEqual(column(await run(group!.query), 'value').sort(), ['field', 'gateways', 'production']);
      assert.deepEqual(column(await run(device!.query), 'value').sort(), [...Object.keys(GROUP_OF), TELEMETRY_ONLY].sort());
      assert.deepEqual(column(await run(device!.query, { location: { values: ['site-2'] } }), 'value').sort(), ['dev-002', 'dev-005']);
      assert.deepEqual(column(await run(device!.query, { location: { values: ['site-1', 'site-2'] }, group: { values: ['gateways'] } }), 'value').sort(), ['dev-004', 'dev-005']);
    });

    test('fleet overview: 5 online, 1 offline, 1 went offline; the Devices table (real @grafana/data) has every device with its place, state, since, last seen and silence', async () => {
      const uid = 'sensorflow-fleet';
      assert.deepEqual(column(await run(panelQuery(uid, 'Online now')), 'online'), [5]);
      assert.deepEqual(column(await run(panelQuery(uid, 'Offline now')), 'offline'), [1]);
      assert.deepEqual(column(await run(panelQuery(uid, 'Went offline in range')), 'devices'), [1]);
      // The closed minutes' readings from telemetry_location_1m equal the raw points of exactly those minutes
      // (the live sites; the written history of site-c has no location rollups).
      const live: VariableValue = { values: ['site-1', 'site-2', 'site-3', 'site-9'] };
      const fromMs = startedAt - 60_000;
      const [readings] = column(await run(panelQuery(uid, 'Readings in range'), { location: live }), 'readings') as number[];
      const minutes = ((await influx.query(`SELECT "temperature_count" FROM telemetry_location_1m WHERE time >= ${fromMs}ms`, 'iot')) as { time: number }[]).map((m) => Number(m.time));
      const raw = (await influx.query(`SELECT count("temperature") AS "n" FROM telemetry WHERE "location" =~ /^site-[1239]$/ AND time >= ${Math.min(...minutes)}ms AND time < ${Math.max(...minutes) + 60_000}ms`, 'iot'))[0]?.n as number;
      assert.ok(readings! > 0, 'readings counted');
      assert.equal(readings, raw, 'every raw reading of the closed minutes, none twice');
      const trouble = dashboards(thresholds).find((d) => d.uid === uid)!.panels.find((p) => p.title === 'Devices in trouble')!;
      for (const order of Object.values(TAG_ORDERS)) {
        const out = await transform([tableFrame(await run(trouble.targets[0]!.query), 'A', order)], trouble.transformations!);
        const view = tableView(out[0]!, out);
        assert.deepEqual(view.header, ['Device', 'Location', 'Group', 'State', 'Offline for', 'Silent for', 'Last seen']);
        assert.deepEqual(view.rows.map((r) => r.slice(0, 4)).sort((a, b) => String(a[0]).localeCompare(String(b[0]))), [
          ['dev-002', 'site-2', 'production', 'offline'],
          [TELEMETRY_ONLY, 'site-9', 'field', 'unknown'],
        ], 'the offline device and the silent telemetry-only one; not the heartbeat, not the devices that talk');
        assert.ok((view.rows.find((r) => r[0] === 'dev-002')![4] as number) > 0, 'dev-002 offline for some seconds');
      }
      const devices = dashboards(thresholds).find((d) => d.uid === uid)!.panels.find((p) => p.title === 'Devices')!;
      const checkedAt = Date.now();
      for (const order of Object.values(TAG_ORDERS)) {
        const frames = await Promise.all(devices.targets.map(async (t) => tableFrame(await run(t.query), t.refId, order)));
        const out = await transform(frames, devices.transformations!);
        const view = tableView(out[0]!, out);
        assert.deepEqual(view.header, ['Device', 'Location', 'Group', 'State', 'State since', 'Last seen', 'Silent for']);
        const rows = view.rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
        assert.deepEqual(rows.map((r) => r.slice(0, 4)), [
          ...Object.keys(GROUP_OF).map((d) => [d, LOCATION_OF[d], GROUP_OF[d], d === 'dev-002' ? 'offline' : 'online']),
          [TELEMETRY_ONLY, 'site-9', 'field', 'unknown'],
        ]);
        for (const row of rows) {
          const [device, , , , since, lastSeen, silent] = row as [string, string, string, string, number, number, number];
          assert.ok(since > startedAt - 600_000 && since <= checkedAt, `${device} since ${since}`);
          assert.ok(lastSeen > startedAt - 60_000 && lastSeen <= checkedAt, `${device} last seen ${lastSeen}`);
          assert.ok(silent >= 0 && silent <= (checkedAt - startedAt) / 1000 + 60, `${device} silent ${silent}`);
        }
      }
    });

    test('sensor telemetry: a series per device, multi-select locations filter them, site-3 reads 45 °C', async () => {
      const uid = 'sensorflow-telemetry';
      const picked: VariableValue = { values: ['dev-001', 'dev-006'] };
      const perDevice = await run(panelQuery(uid, 'Temperature per device'), { device: picked });
      assert.deepEqual(tagValues(perDevice, 'device'), ['dev-001', 'dev-006'], 'the devices picked, not the fleet');
      const chosen = await run(panelQuery(uid, 'Temperature per device'), { location: { values: ['site-1', 'site-3'] } });
      assert.deepEqual(tagValues(chosen, 'device'), ['dev-001', 'dev-003', 'dev-004', 'dev-006']);
      const perLocation = await run(panelQuery(uid, 'Temperature per location: min / mean / max'));
      assert.deepEqual(tagValues(perLocation, 'location'), ['site-1', 'site-2', 'site-3', 'site-9']);
      assert.equal(Math.max(...(column(perLocation.filter((s) => s.tags.location === 'site-3'), 'max') as number[])), 45);
      const summary = await run(panelQuery(uid, 'Min / mean / max per device in range'), { device: picked });
      assert.deepEqual(tagValues(summary, 'device'), ['dev-001', 'dev-006'], 'one row per device picked');
      assert.equal(column(summary.filter((s) => s.tags.device === 'dev-006'), 'temperature max')[0], 45);
      // From the rollups: the mean is the raw readings' mean over the closed minutes.
      const [rollupMean] = column(summary.filter((s) => s.tags.device === 'dev-001'), 'temperature mean') as number[];
      const minutes = ((await influx.query(`SELECT "temperature_count" FROM telemetry_1m WHERE "device" = 'dev-001' AND time >= ${startedAt - 60_000}ms`, 'iot')) as { time: number }[]).map((m) => Number(m.time));
      const rawMean = (await influx.query(`SELECT mean("temperature") AS "m" FROM telemetry WHERE "device" = 'dev-001' AND time >= ${Math.min(...minutes)}ms AND time < ${Math.max(...minutes) + 60_000}ms`, 'iot'))[0]?.m as number;
      assert.ok(Math.abs(rollupMean! - rawMean) < 1e-6, `rollup mean ${rollupMean} vs the raw mean of the same minutes ${rawMean}`);
      const summaryPanel = dashboards(thresholds).find((d) => d.uid === uid)!.panels.find((p) => p.title === 'Min / mean / max per device in range')!;
      for (const order of Object.values(TAG_ORDERS)) {
        const out = await transform([tableFrame(summary, 'A', order)], summaryPanel.transformations!);
        const view = tableView(out[0]!, out);
        assert.deepEqual(view.header, [...SUMMARY_COLUMNS]);
        assert.equal(view.rows.find((r) => r[0] === 'dev-006')?.[1], 'site-3');
      }
    });

    test('device presence: dev-002\'s last will is a disconnect from source lwt, every device has a timeline', async () => {
      const uid = 'sensorflow-presence';
      assert.deepEqual(tagValues(await run(panelQuery(uid, 'Online / offline per device')), 'device'), Object.keys(GROUP_OF));
      assert.deepEqual(tagValues(await run(panelQuery(uid, 'Online / offline per device'), { device: { values: ['dev-002', 'dev-005'] } }), 'device'), ['dev-002', 'dev-005'], 'the devices picked');
      assert.deepEqual(await run(panelQuery(uid, 'Disconnects and their reasons'), { device: { values: ['dev-001'] } }), [], 'dev-001 never disconnected');
      const flappingPicked = await run(dashboards(thresholds).find((d) => d.uid === uid)!.panels.find((p) => p.title === 'Flapping devices (most reconnects)')!.targets[0]!.query, { device: { values: ['dev-001'] } });
      assert.equal(column(flappingPicked, 'device').length, 6, 'flapping: the Device filter does not apply');
      const disconnects = await run(panelQuery(uid, 'Disconnects and their reasons'));
      assert.deepEqual([...new Set(column(disconnects, 'device'))], ['dev-002']);
      assert.deepEqual([...new Set(column(disconnects, 'source'))], ['lwt']);
      assert.deepEqual(tagValues(await run(panelQuery(uid, 'Presence events by source')), 'source'), ['lwt']);
      const flapping = dashboards(thresholds).find((d) => d.uid === uid)!.panels.find((p) => p.title === 'Flapping devices (most reconnects)')!;
      const connects = await run(flapping.targets[0]!.query);
      assert.equal(column(connects, 'device').length, 6);
      const bars = getFieldDisplayValues({
        data: [tableFrame(connects, 'A', TAG_ORDERS.sorted!)], reduceOptions: flapping.options.reduceOptions as never, fieldConfig: flapping.fieldConfig as never,
        replaceVariables: (value: string) => value, theme: createTheme(), timeZone: 'utc',
      });
      assert.deepEqual(bars.map((b) => b.display.title).sort(), Object.keys(GROUP_OF), 'one bar per device, titled by it');
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
    test('liveness through the real pipeline: dev-002 (last will) offline, the telemetry-only device silent with its location and group, nothing else', async () => {
      const live = (uid: string) => liveRules.get(uid) ?? assert.fail(uid);
      const firingLive = async (uid: string): Promise<Labels[]> => {
        const evaluation = await evaluateRule(live(uid), influx.url, 'iot', Date.now());
        return [...evaluation.instances.values()].filter(isFiring).map((i) => i.labels).sort((a, b) => labelKey(a).localeCompare(labelKey(b)));
      };
      await waitFor('dev-002 offline for more than 3 s and tele-001 silent for more than 5 s', async () =>
        ((await firingLive('sensorflow-device-offline')).length > 0 && (await firingLive('sensorflow-device-silent')).length > 0 ? true : undefined), 30_000, 500);
      assert.deepEqual(await firingLive('sensorflow-device-offline'), [place('dev-002')]);
      assert.deepEqual(await firingLive('sensorflow-device-offline-critical'), []);
      assert.deepEqual(await firingLive('sensorflow-device-silent'), [{ device: TELEMETRY_ONLY, group: 'field', location: 'site-9' }], 'offline dev-002 is not also silent; talking devices are not');
      const evaluation = await evaluateRule(live('sensorflow-device-offline'), influx.url, 'iot', Date.now());
      assert.deepEqual([...evaluation.instances.values()].map((i) => i.labels.device).sort(), ['', 'dev-002', TELEMETRY_ONLY], 'the devices in trouble and the heartbeat, one instance each (no instance label); not the fleet');
    });

    test('temperature: the overheated location fires (both its devices), nothing else', async () => {
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-temperature-out-of-range'), [place('dev-003'), place('dev-006')]);
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-humidity-out-of-range'), []);
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-battery-low'), []);
    });

    test('pipeline: healthy before the burst, rejects surging after it, nothing else', async () => {
      for (const uid of ['sensorflow-write-retries', 'sensorflow-rejects', 'sensorflow-backlog', 'sensorflow-ingestor-silent', 'sensorflow-no-telemetry', 'sensorflow-liveness-stalled']) {
        assert.deepEqual(await firing(influx, 'iot', uid, beforeBurst), [], `${uid} before the burst`);
      }
      assert.deepEqual(await firing(influx, 'iot', 'sensorflow-rejects'), [{ instance: INSTANCE }]);
      for (const uid of ['sensorflow-write-retries', 'sensorflow-backlog', 'sensorflow-ingestor-silent', 'sensorflow-no-telemetry', 'sensorflow-liveness-stalled']) {
        assert.deepEqual(await firing(influx, 'iot', uid), [], `${uid} after the burst`);
      }
    });
  });

  describe('liveness rules on device_trouble history (written by the ingestor\'s own ticker), minute by minute as Grafana evaluates them', () => {
    // Evaluations every minute over the last 40 minutes (see writeLivenessHistory).
    const times = (): number[] => Array.from({ length: 41 }, (_, i) => livenessNow - (40 - i) * MINUTE);
    const run = async (uid: string, at = times(), rules = (id: string) => rule(id)) => simulate(rules(uid), influx.url, 'liveness', at);
    const k = (device: string, location: string, group = ''): string => labelKey({ device, group, location });
    const HEARTBEAT = k('', '');
    const object = (states: ReadonlyMap<string, string>) => Object.fromEntries(states);

    test('silent: the telemetry-only device that stopped fires with its location and group, the one silent for 7 hours too; the gateway sensor at 20 minutes fires with the default limit', async () => {
      assert.deepEqual(object((await run('sensorflow-device-silent')).final), {
        [k('tele-stopped', 'hall', 'line-a')]: 'Alerting',
        [k('tele-7h', 'yard')]: 'Alerting',
        [k('gw-sensor', 'hall', 'gateways')]: 'Alerting',
        [k('merged', 'site-b', 'production')]: 'Alerting',
      });
    });

    test('silent with a per-group limit (gateways: 30m): the gateway sensor at 20 minutes does not fire, the others still do', async () => {
      const overridden = parseThresholds(readFileSync(THRESHOLDS_FILE, 'utf8').replace('after_by_group: {}', 'after_by_group: { gateways: 30m }'));
      const rules = new Map(ruleGroups(overridden).flatMap((g) => g.rules).map((r) => [r.uid, r]));
      assert.deepEqual(object((await run('sensorflow-device-silent', times(), (id) => rules.get(id)!)).final), {
        [k('tele-stopped', 'hall', 'line-a')]: 'Alerting',
        [k('tele-7h', 'yard')]: 'Alerting',
        [k('merged', 'site-b', 'production')]: 'Alerting',
      });
    });

    test('offline 90 minutes before the first evaluation fires critical AT that first evaluation; offline for 2 minutes fires nothing', async () => {
      const first = await run('sensorflow-device-offline-critical', [livenessNow - 40 * MINUTE]);
      assert.deepEqual(object(first.final), { [k('off-90', 'site-a', 'production')]: 'Alerting' });
      const atNow = await run('sensorflow-device-offline', [livenessNow]);
      assert.equal(atNow.final.get(k('off-2', 'site-a', 'production')), undefined, 'offline 2 minutes: no warning yet');
      assert.equal((await run('sensorflow-device-silent', [livenessNow])).final.get(k('off-2', 'site-a', 'production')), undefined, 'and not silent either');
    });

    test('offline over the whole run: warning and critical for the 90-minute device, warning for the one only the surviving instance sees; never the talking devices', async () => {
      assert.deepEqual(object((await run('sensorflow-device-offline')).final), {
        [k('off-90', 'site-a', 'production')]: 'Alerting',
        [k('merged-off', 'site-b', 'production')]: 'Alerting',
      });
      assert.deepEqual(object((await run('sensorflow-device-offline-critical')).final), { [k('off-90', 'site-a', 'production')]: 'Alerting' });
    });

    test('a device that comes back resolves at the first evaluation after its return (its "left trouble" point says 0)', async () => {
      const { timeline } = await run('sensorflow-device-offline');
      const back = k('back', 'site-b', 'production');
      const stateAt = (minutesBeforeNow: number) => timeline.find((e) => e.at === livenessNow - minutesBeforeNow * MINUTE)!.states.get(back);
      assert.equal(stateAt(11), 'Alerting', 'offline for 49 minutes');
      assert.equal(stateAt(10), undefined, 'back at -10 min: Normal at the -10 min evaluation');
      const offline = await runInfluxQL(influx.url, 'liveness', `SELECT "state", "offline_s", "silent_s" FROM "device_trouble" WHERE "device" = 'back' AND time >= ${livenessNow - 11 * MINUTE}ms`);
      assert.deepEqual(offline[0]!.values.map((row) => row.slice(1)), [['offline', 49 * 60, 49 * 60], ['online', 0, 0]], 'one last point, then none');
    });

    test('a talking device never fires, nor the heartbeat series; nobody in trouble is Normal, not NoData', async () => {
      for (const uid of ['sensorflow-device-offline', 'sensorflow-device-offline-critical', 'sensorflow-device-silent']) {
        const { timeline } = await run(uid);
        for (const entry of timeline) {
          for (const device of [k('talker', 'site-a', 'production'), HEARTBEAT]) assert.equal(entry.states.get(device), undefined, `${uid} at ${entry.at}`);
        }
        const evaluation = await evaluateRule(rule(uid), influx.url, 'calm', livenessNow);
        assert.equal(evaluation.noData, false, `${uid}: the heartbeats alone are a result`);
        assert.deepEqual([...evaluation.instances.values()].map((i) => [i.labels, i.value]), [[{ device: '', group: '', location: '' }, 0]], uid);
      }
    });

    test('one series per device in trouble plus the heartbeats (no instance label); two instances merge: smallest offline_s and silent_s over their trouble points in the window', async () => {
      const evaluation = await evaluateRule(rule('sensorflow-device-offline'), influx.url, 'liveness', livenessNow);
      // In trouble now: offline off-90, off-2, merged-off; silent tele-stopped, tele-7h, gw-sensor, merged.
      assert.deepEqual([...evaluation.instances.values()].map((i) => i.labels.device).sort(), ['', 'gw-sensor', 'merged', 'merged-off', 'off-2', 'off-90', 'tele-7h', 'tele-stopped']);
      assert.equal(evaluation.instances.get(k('merged-off', 'site-b', 'production'))?.value, 1, 'the dead instance wrote no trouble for it');
      assert.ok([...evaluation.instances.values()].every((i) => !('instance' in i.labels)));
      const offlineSeconds = await runInfluxQL(influx.url, 'liveness', evaluation.queries.A!);
      const of = (device: string) => offlineSeconds.find((x) => x.tags.device === device)!.values.at(-1)![1];
      assert.equal(of('merged-off'), 18 * 60, 'offline since -20 min, read at the oldest tick in the 2-minute window');
      const silence = await evaluateRule(rule('sensorflow-device-silent'), influx.url, 'liveness', livenessNow);
      const over = await runInfluxQL(influx.url, 'liveness', silence.queries.A!);
      assert.equal(over.find((x) => x.tags.device === 'merged')!.values.at(-1)![1], 28 * 60 - thresholds.silence.after.seconds, 'i2 got the newest message (-30 min), read at the oldest tick in the window (-2 min)');
    });

    test('an ingestor outage (no device_trouble point in the window) keeps every state: nothing fires, nothing resolves', async () => {
      for (const uid of ['sensorflow-device-offline', 'sensorflow-device-silent']) {
        const { timeline } = await run(uid);
        const at = (minutesBeforeNow: number) => object(timeline.find((e) => e.at === livenessNow - minutesBeforeNow * MINUTE)!.states);
        const before = at(OUTAGE.to + 1);
        assert.ok(Object.keys(before).length > 0, `${uid} fires for something before the outage`);
        for (let m = OUTAGE.to; m > OUTAGE.from; m -= 1) assert.deepEqual(at(m), before, `${uid} ${m} minutes before now, in the outage`);
        const evaluation = await evaluateRule(rule(uid), influx.url, 'liveness', livenessNow - (OUTAGE.from + 1) * MINUTE);
        assert.ok(evaluation.noData, 'the window was empty: NoData, kept by KeepLast');
      }
    });

    test('a forgotten device resolves at the evaluation of the tick that forgot it (its last point says 0)', async () => {
      const { timeline } = await run('sensorflow-device-silent');
      const forgot = k('tele-forgotten', 'yard');
      const stateAt = (minutesBeforeNow: number) => timeline.find((e) => e.at === livenessNow - minutesBeforeNow * MINUTE)!.states.get(forgot);
      assert.equal(stateAt(6), 'Alerting');
      assert.equal(stateAt(5), undefined, 'forgotten at -5 min: state "forgotten", silent_s 0');
    });

    test('a device that left trouble while its ingestor restarted resolves at the first evaluation after the restart (the directory file kept who was in trouble)', async () => {
      const { timeline } = await run('sensorflow-device-silent');
      const rst = k('rst', 'yard');
      const stateAt = (minutesBeforeNow: number) => timeline.find((e) => e.at === livenessNow - minutesBeforeNow * MINUTE)!.states.get(rst);
      assert.deepEqual([21, 20, 19].map(stateAt), ['Alerting', undefined, undefined], 'silent 39 minutes at -21; restarted and back at -20: Normal at the -20 min evaluation');
      const points = await runInfluxQL(influx.url, 'liveness', `SELECT "silent_s", "offline_s" FROM "device_trouble" WHERE "device" = 'rst' AND time >= ${livenessNow - 21 * MINUTE}ms`);
      assert.deepEqual(points[0]!.values.map((row) => row.slice(1)), [[39 * 60, 0], [0, 0]], 'its last trouble point before the restart, one "left trouble" point after it, then none');
    });
  });

  describe('alert rules over history, minute by minute with `for`', () => {
    const times = (): number[] => Array.from({ length: 71 }, (_, i) => historyNow - (70 - i) * 60_000);
    const states = async (uid: string, db = 'history'): Promise<Record<string, string>> =>
      Object.fromEntries((await simulate(rule(uid), influx.url, db, times())).final);
    const key = (labels: Labels): string => labelKey(labels);
    const h = (device: string, location: string, group: string): string => key({ device, group, location });

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

    test('liveness stalled: the instance catching up for 15 minutes fires, from 10 minutes on; brief catch-ups, a new instance and flowing ticks never; a dead one is "not reporting", never both', async () => {
      const stalled = await simulate(rule('sensorflow-liveness-stalled'), influx.url, 'history', times());
      const silent = await simulate(rule('sensorflow-ingestor-silent'), influx.url, 'history', times());
      assert.deepEqual(Object.fromEntries(stalled.final), { [key({ instance: 'ingestor-catching-up' })]: 'Alerting' });
      const stuck = key({ instance: 'ingestor-catching-up' });
      const firingFrom = stalled.timeline.find((e) => e.states.get(stuck) === 'Alerting')!.at;
      // Catching up since 15 minutes before historyNow: fires once it has lasted the 10-minute window, not before.
      assert.ok(firingFrom >= historyNow - 5 * 60_000 - 60_000 && firingFrom <= historyNow - 4 * 60_000, `fired ${(historyNow - firingFrom) / 60_000} min before now`);
      const everFiring = new Set(stalled.timeline.flatMap((e) => [...e.states.keys()]));
      for (const instance of ['ingestor-live', 'ingestor-stuck', 'ingestor-brief', 'ingestor-new']) assert.ok(!everFiring.has(key({ instance })), instance);
      // The dead instance was stuck catching up for 20 minutes before it stopped reporting: stalled first, then only "not reporting".
      const dead = key({ instance: 'ingestor-dead' });
      assert.ok(stalled.timeline.some((e) => e.states.get(dead) === 'Alerting'), 'stalled while it still reported');
      stalled.timeline.forEach((e, index) => {
        assert.ok(!(e.states.get(dead) === 'Alerting' && silent.timeline[index]!.states.get(dead) === 'Alerting'), `both fire for ingestor-dead at ${(historyNow - e.at) / 60_000} min before now`);
      });
      assert.equal(silent.final.get(dead), 'Alerting');
    });

    test('an empty database: no telemetry and no ingestor fire (NoData → Alerting); device rules stay quiet (NoData → OK)', async () => {
      assert.deepEqual(await states('sensorflow-no-telemetry', 'empty'), { [key({})]: 'Alerting' });
      assert.deepEqual(await states('sensorflow-ingestor-silent', 'empty'), { [key({})]: 'Alerting' });
      for (const uid of ['sensorflow-device-offline', 'sensorflow-device-silent', 'sensorflow-temperature-out-of-range', 'sensorflow-write-retries', 'sensorflow-liveness-stalled']) {
        assert.deepEqual(await states(uid, 'empty'), {}, uid);
      }
    });
  });
});

const MINUTE = 60_000;
/** DEVICE_TROUBLE_SILENT_AFTER of the history's ingestors: the default. */
const TROUBLE_SILENT_AFTER_MS = 5 * MINUTE;
/** Minutes before now with no device_state point at all (every ingestor down or catching up). */
const OUTAGE = { from: 22, to: 33 } as const;
let livenessNow = 0;

interface LivenessSpec {
  readonly device: string;
  readonly location: string;
  readonly group?: string;
  /** Per instance: presence changes (minutes before now, online or not), or none (no presence source), and the newest message at each tick. */
  readonly views: Readonly<Record<string, { readonly presence?: readonly (readonly [number, boolean])[]; readonly lastMessage: (tick: number) => number }>>;
}

/** The ingestor instances of the liveness history: when they stop ticking (dead), restart (a new directory loaded from the file the old one saved, a new ticker), forget. */
const LIVENESS_INSTANCES: Readonly<Record<string, { readonly deadFrom?: number; readonly restartAt?: number; readonly forgetAfterMin?: number }>> = {
  i1: {},
  i2: {},
  // Never saw merged-off's disconnect, died 15 minutes before now.
  dead: { deadFrom: 15 },
  // Forgets after 115 minutes: tele-forgotten (last message at -120 min) at -5 min.
  forgetful: { forgetAfterMin: 115 },
  // Restarted at -20 min, as rst came back: its directory (file) says rst was in trouble, so rst gets its "left trouble" point.
  restarting: { restartAt: 20 },
};

/**
 * device_state and device_trouble written BY THE INGESTOR'S OWN CODE: per
 * instance a real device directory, liveness book and LivenessTicker (the
 * one main.ts runs), fed minute by minute with each view's presence changes
 * and newest message, its clock set to each tick; the lines it logs go to
 * InfluxDB 1.x as they are. Every tick over the last 2 hours, except in
 * OUTAGE (every ingestor down or catching up: no tick at all).
 */
async function writeLivenessHistory(influx: Influx1): Promise<void> {
  const now = Math.floor(Date.now() / MINUTE) * MINUTE;
  livenessNow = now;
  const at = (minutesBeforeNow: number) => now - minutesBeforeNow * MINUTE;
  // Reports every 10 s until `until` minutes before now.
  const every10s = (until: number) => (tick: number) => Math.min(tick, at(until)) - (Math.min(tick, at(until)) % 10_000);
  const online = (sinceMinutes: number): readonly (readonly [number, boolean])[] => [[sinceMinutes, true]];
  const devices: LivenessSpec[] = [
    { device: 'tele-stopped', location: 'hall', group: 'line-a', views: { i1: { lastMessage: every10s(30) } } },
    { device: 'tele-7h', location: 'yard', views: { i1: { lastMessage: () => at(7 * 60) } } },
    // Behind a gateway, reporting every 20 minutes (newest at -20 min): at most 20 minutes silent.
    { device: 'gw-sensor', location: 'hall', group: 'gateways', views: { i1: { lastMessage: (tick) => at(20) - Math.ceil(Math.max(0, at(20) - tick) / (20 * MINUTE)) * 20 * MINUTE } } },
    { device: 'off-90', location: 'site-a', group: 'production', views: { i1: { presence: [[300, true], [130, false]], lastMessage: every10s(130) } } },
    { device: 'off-2', location: 'site-a', group: 'production', views: { i1: { presence: [[300, true], [2, false]], lastMessage: every10s(2) } } },
    { device: 'back', location: 'site-b', group: 'production', views: { i1: { presence: [[300, true], [60, false], [10, true]], lastMessage: (tick) => (tick >= at(10) ? every10s(0)(tick) : Math.min(tick, at(60))) } } },
    { device: 'talker', location: 'site-a', group: 'production', views: { i1: { presence: online(300), lastMessage: every10s(0) } } },
    // Two members of a shared group (round robin): each got a share of its messages; it stopped at -30 min, i2 got the last one, i1 the one before.
    { device: 'merged', location: 'site-b', group: 'production', views: {
      i1: { presence: online(300), lastMessage: (tick) => every10s(30)(tick) - 10_000 },
      i2: { presence: online(300), lastMessage: every10s(30) },
    } },
    // `dead` never saw the disconnect and died at -15 min: once its points have left the window, i2's view decides.
    { device: 'merged-off', location: 'site-b', group: 'production', views: {
      dead: { presence: online(100), lastMessage: every10s(15) },
      i2: { presence: [[100, true], [20, false]], lastMessage: every10s(20) },
    } },
    { device: 'tele-forgotten', location: 'yard', views: { forgetful: { lastMessage: () => at(120) } } },
    // Silent from -60 to -20 min, on an instance that restarted at -20 min.
    { device: 'rst', location: 'yard', views: { restarting: { lastMessage: (tick) => (tick >= at(20) ? every10s(0)(tick) : Math.min(tick, at(60))) } } },
  ];
  const registry = parseRegistry('devices.yaml', `devices:\n${devices.map((d) => `  ${d.device}: { location: ${d.location}${d.group === undefined ? '' : `, group: ${d.group}`} }`).join('\n')}\n`);
  const quiet = pino({ level: 'silent' });
  const wal = new MemoryLog();
  let clock = 0;
  const stateDir = mkdtempSync(join(tmpdir(), 'liveness-history-'));
  const instances = Object.entries(LIVENESS_INSTANCES).map(([instance, options]) => {
    // Only an instance that restarts keeps its directory in a file (the others would only spend fsyncs).
    const file = options.restartAt === undefined ? undefined : join(stateDir, `${instance}.json`);
    const tickerOver = (directory: DeviceDirectory) => new LivenessTicker({
      intervalMs: MINUTE, forgetAfterMs: options.forgetAfterMin === undefined ? undefined : options.forgetAfterMin * MINUTE, troubleSilentAfterMs: TROUBLE_SILENT_AFTER_MS, instance, directory, wal,
      canAppend: () => true, stats: emptyStats(), lag: new LagCounter(MINUTE), broker: { connected: true, connections: 0 }, log: quiet, now: () => clock, sharedGroup: true,
    });
    const directory = new DeviceDirectory(registry, file, quiet);
    const member = {
      instance, options, directory, ticker: tickerOver(directory),
      /** A stop (the directory saved, as at shutdown) and a start: the new process knows only the file. */
      async restart(): Promise<void> {
        await member.directory.save();
        member.directory = new DeviceDirectory(registry, file, quiet);
        member.ticker = tickerOver(member.directory);
      },
    };
    return member;
  });
  try {
    for (let tick = at(120); tick <= now; tick += MINUTE) {
      const minutesBeforeNow = (now - tick) / MINUTE;
      clock = tick;
      for (const member of instances) {
        if (member.options.deadFrom !== undefined && minutesBeforeNow < member.options.deadFrom) continue;
        if (member.options.restartAt === minutesBeforeNow) await member.restart();
        const { liveness } = member.directory;
        for (const spec of devices) {
          const view = spec.views[member.instance];
          if (view === undefined) continue;
          if (member.options.forgetAfterMin !== undefined && !liveness.has(spec.device) && tick > at(120)) continue; // forgotten: sends nothing more
          liveness.seen(spec.device, view.lastMessage(tick), tick);
          for (const [m, isOnline] of view.presence ?? []) if (at(m) <= tick) liveness.presence(spec.device, isOnline, at(m), 'lwt', tick);
        }
        if (minutesBeforeNow < OUTAGE.to && minutesBeforeNow > OUTAGE.from) continue; // catching up: no tick
        assert.equal((await member.ticker.tick()).kind, 'written');
      }
    }
    for (const member of instances) await member.directory.save();
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
  const response = await fetch(`${influx.url}/write?db=liveness&precision=ms`, { method: 'POST', body: wal.lines.join('\n') });
  assert.equal(response.status, 204, await response.text());
}

/** A fleet where every device talks: the ingestor's ticker writes only its heartbeat to device_trouble. */
async function writeCalmFleet(influx: Influx1): Promise<void> {
  const quiet = pino({ level: 'silent' });
  const directory = new DeviceDirectory(parseRegistry('devices.yaml', 'devices:\n  a: { location: x }\n'), undefined, quiet);
  const wal = new MemoryLog();
  let clock = livenessNow - 2 * MINUTE;
  const ticker = new LivenessTicker({
    intervalMs: MINUTE, forgetAfterMs: undefined, troubleSilentAfterMs: TROUBLE_SILENT_AFTER_MS, instance: 'calm', directory, wal,
    canAppend: () => true, stats: emptyStats(), lag: new LagCounter(MINUTE), broker: { connected: true, connections: 0 }, log: quiet, now: () => clock, sharedGroup: false,
  });
  for (; clock <= livenessNow; clock += MINUTE) {
    for (const device of ['a', 'b', 'c']) directory.liveness.seen(device, clock - 5000, clock);
    await ticker.tick();
  }
  assert.deepEqual(wal.lines.filter((line) => line.startsWith('device_trouble,')).map((line) => line.split(' ')[0]), Array(3).fill('device_trouble,instance=calm'));
  const response = await fetch(`${influx.url}/write?db=calm&precision=ms`, { method: 'POST', body: wal.lines.join('\n') });
  assert.equal(response.status, 204, await response.text());
}

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
  // The per-minute rollups of those readings, as the ingestor writes them (ingestor/rollups/book.ts), with its heartbeat.
  const rolled = (value: number) => `_min=${value},_max=${value},_sum=${2 * value},_count=2i`;
  const fields = (values: Record<string, number>) => Object.entries(values).map(([f, v]) => rolled(v).split(',').map((part) => f + part).join(',')).join(',');
  for (let m = Math.floor((now - 180 * min) / min) * min; m < Math.floor(now / min) * min; m += min) {
    lines.push(`telemetry_1m,instance=ingestor-live devices=2i ${m}`);
    if (m < now - 16 * min) lines.push(`telemetry_1m,device=dev-h5,group=production,instance=ingestor-live,location=site-c ${fields({ temperature: 21.5, humidity: 50, battery: 80, rssi: -60 })} ${m}`);
    lines.push(`telemetry_1m,device=dev-h6,group=production,instance=ingestor-live,location=site-c ${fields({ temperature: 22.5, humidity: 55, battery: 9, rssi: -65 })} ${m}`);
  }
  // The liveness fields as the ingestor keeps them: a tick every 60 s, written
  // (device_state_ticks) unless catching up (device_state_skipped, catching_up 1
  // until the next written tick).
  const ticks = new Map<string, { written: number; skipped: number; catchingUp: boolean }>();
  for (let i = 0, t = now - 90 * min; t <= now; i += 1, t += 10_000) {
    const stats = (instance: string, retries: number, backlog: number, catchingUp = (_: number) => false) => {
      const tick = ticks.get(instance) ?? { written: 0, skipped: 0, catchingUp: false };
      ticks.set(instance, tick);
      if (i % 6 === 0) {
        tick.catchingUp = catchingUp(t);
        if (tick.catchingUp) tick.skipped += 1;
        else tick.written += 1;
      }
      return `ingestor_stats,instance=${instance} messages_in=${i * 10},points_accepted=${i * 10},points_written=${i * 10},points_rejected_by_influx=0,write_retries=${retries},rejects=0,backlog_bytes=${backlog},wal_bytes=${backlog + 4096},mqtt_connected=1,` +
        `device_state_ticks=${tick.written},device_state_skipped=${tick.skipped},catching_up=${tick.catchingUp ? 1 : 0} ${t}`;
    };
    const between = (fromMin: number, toMin: number) => (at: number) => at >= now - fromMin * min && at < now - toMin * min;
    lines.push(stats('ingestor-live', 0, 0));
    lines.push(stats('ingestor-stuck', i, 2_000_000 + i * 20_000));
    // Catching up from 40 minutes ago until it stopped reporting 20 minutes ago.
    if (t > now - 120 * min && t < now - 20 * min) lines.push(stats('ingestor-dead', 0, 0, between(40, 0)));
    // Stuck catching up for the last 15 minutes (a gateway replaying for ever).
    lines.push(stats('ingestor-catching-up', 0, 0, between(15, -1)));
    // Two short catch-ups of 2 minutes: one 30 minutes ago, one now.
    lines.push(stats('ingestor-brief', 0, 0, (at) => between(32, 30)(at) || between(2, -1)(at)));
    // Started 5 minutes ago, catching up since: not yet for the whole window.
    if (t >= now - 5 * min) lines.push(stats('ingestor-new', 0, 0, () => true));
  }
  const response = await fetch(`${influx.url}/write?db=history&precision=ms`, { method: 'POST', body: lines.join('\n') });
  assert.equal(response.status, 204, await response.text());
}

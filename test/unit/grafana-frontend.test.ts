/**
 * The changed panels as a user sees them in Grafana 12.0.2: their
 * transformations and display names run by the real `@grafana/data` 12.0.2 on
 * frames shaped like Grafana's InfluxQL backend's (test/harness/
 * grafana-frontend.ts), with the tag columns in several orders because the
 * backend hands them over in Go map order. The same frames built from real
 * InfluxDB answers are checked in test/integration/grafana.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dashboards, SUMMARY_COLUMNS } from '../../grafana/src/dashboards.ts';
import type { Panel } from '../../grafana/src/model.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import type { InfluxSeries } from '../harness/grafana-eval.ts';
import { createTheme, getFieldDisplayValues, TAG_ORDERS, tableFrame, tableView, transform } from '../harness/grafana-frontend.ts';

const boards = dashboards(loadThresholds());
const panel = (uid: string, title: string): Panel =>
  boards.find((d) => d.uid === uid)?.panels.find((p) => p.title === title) ?? assert.fail(`no panel ${title} in ${uid}`);

const series = (name: string, tags: Record<string, string>, columns: string[], ...values: unknown[][]): InfluxSeries => ({ name, tags, columns: ['time', ...columns], values });

describe('Fleet overview "Devices": device_state alone, in Grafana 12.0.2', () => {
  const devices = panel('sensorflow-fleet', 'Devices');
  // As InfluxDB answers the table query (one series per device).
  const columns = ['state', 'since', 'last_seen', 'silent_s'];
  const answer = [
    series('device_state', { device: 'dev-001', group: 'production', location: 'site-1' }, columns, [0, 'online', 1_700_000_000_000, 1_700_000_500_000, 4]),
    series('device_state', { device: 'gw-sensor-7', group: '', location: 'hall' }, columns, [0, 'unknown', 1_699_000_000_000, 1_699_990_000_000, 25_200]),
    series('device_state', { device: 'dev-002', group: 'production', location: 'site-2' }, columns, [0, 'offline', 1_700_000_100_000, 1_700_000_050_000, 5400]),
  ];

  for (const [orderName, order] of Object.entries(TAG_ORDERS)) {
    test(`columns Device, Location, Group, State, State since, Last seen, Silent for, one row per device (tags ${orderName})`, async () => {
      const out = await transform([tableFrame(answer, 'A', order)], devices.transformations!);
      assert.equal(out.length, 1);
      const view = tableView(out[0]!, out);
      assert.deepEqual(view.header, ['Device', 'Location', 'Group', 'State', 'State since', 'Last seen', 'Silent for']);
      assert.deepEqual(view.rows, [
        ['dev-001', 'site-1', 'production', 'online', 1_700_000_000_000, 1_700_000_500_000, 4],
        ['gw-sensor-7', 'hall', '', 'unknown', 1_699_000_000_000, 1_699_990_000_000, 25_200],
        ['dev-002', 'site-2', 'production', 'offline', 1_700_000_100_000, 1_700_000_050_000, 5400],
      ]);
    });
  }

  test('without the organize step the columns would follow the map order and show the raw time column', () => {
    const view = tableView(tableFrame(answer, 'A', TAG_ORDERS.reversed!));
    assert.deepEqual(view.header, ['Time', 'location', 'group', 'device', 'state', 'since', 'last_seen', 'silent_s']);
  });

  test('every overridden column name exists in the table (an override on a missing name does nothing)', async () => {
    const out = await transform([tableFrame(answer, 'A', TAG_ORDERS.sorted!)], devices.transformations!);
    const header = tableView(out[0]!, out).header;
    for (const override of devices.fieldConfig.overrides) assert.ok(header.includes(override.matcher.options), override.matcher.options);
    assert.ok((devices.options.sortBy as { displayName: string }[]).every((s) => header.includes(s.displayName)));
  });

  test('a join of two InfluxQL table frames names both time columns after their frame, "Time device_state" (why the table is one query)', async () => {
    const two = [tableFrame(answer, 'A', TAG_ORDERS.sorted!), tableFrame([series('device_state', { device: 'dev-001' }, ['x'], [0, 1])], 'B', TAG_ORDERS.sorted!)];
    const joined = await transform(two, [{ id: 'joinByField', options: { byField: 'device', mode: 'outer' } }]);
    assert.deepEqual(tableView(joined[0]!, joined).header.filter((h) => h.startsWith('Time')), ['Time device_state', 'Time device_state']);
  });
});

describe('Fleet overview "Devices in trouble": device_trouble, in Grafana 12.0.2', () => {
  const trouble = panel('sensorflow-fleet', 'Devices in trouble');
  // As InfluxDB answers the outer query (one series per device in trouble; the heartbeat and devices that left trouble are filtered out by it).
  const columns = ['state', 'offline_s', 'silent_s', 'last_seen'];
  const answer = [
    series('device_trouble', { device: 'dev-002', group: 'production', location: 'site-2' }, columns, [0, 'offline', 5400, 5400, 1_700_000_050_000]),
    series('device_trouble', { device: 'gw-sensor-7', group: '', location: 'hall' }, columns, [0, 'unknown', 0, 25_200, 1_699_990_000_000]),
  ];
  for (const [orderName, order] of Object.entries(TAG_ORDERS)) {
    test(`columns Device, Location, Group, State, Offline for, Silent for, Last seen (tags ${orderName}); overrides and sort name real columns`, async () => {
      const out = await transform([tableFrame(answer, 'A', order)], trouble.transformations!);
      assert.equal(out.length, 1);
      const view = tableView(out[0]!, out);
      assert.deepEqual(view.header, ['Device', 'Location', 'Group', 'State', 'Offline for', 'Silent for', 'Last seen']);
      assert.deepEqual(view.rows, [
        ['dev-002', 'site-2', 'production', 'offline', 5400, 5400, 1_700_000_050_000],
        ['gw-sensor-7', 'hall', '', 'unknown', 0, 25_200, 1_699_990_000_000],
      ]);
      for (const override of trouble.fieldConfig.overrides) assert.ok(view.header.includes(override.matcher.options), override.matcher.options);
      assert.ok((trouble.options.sortBy as { displayName: string }[]).every((s) => view.header.includes(s.displayName)));
    });
  }
});

describe('Sensor telemetry "Min / mean / max per device in range": a fixed column order', () => {
  const summary = panel('sensorflow-telemetry', 'Min / mean / max per device in range');
  const columns = SUMMARY_COLUMNS.slice(2);
  const rows = [
    series('telemetry', { device: 'dev-001', location: 'site-1' }, [...columns], [0, 18, 21.5, 24, 40, 60, 80]),
    series('telemetry', { device: 'dev-006', location: 'site-3' }, [...columns], [0, 20, 30, 45, 35, 55, 70]),
  ];
  for (const [orderName, order] of Object.entries(TAG_ORDERS)) {
    test(`device, location, then the readings, whatever order the tags come in (${orderName})`, async () => {
      const frame = tableFrame(rows, 'A', order);
      const out = await transform([frame], summary.transformations!);
      const view = tableView(out[0]!, out);
      assert.deepEqual(view.header, [...SUMMARY_COLUMNS]);
      assert.deepEqual(view.rows, [['dev-001', 'site-1', 18, 21.5, 24, 40, 60, 80], ['dev-006', 'site-3', 20, 30, 45, 35, 55, 70]]);
    });
  }
});

describe('Device presence "Flapping devices": one bar per device, titled by it', () => {
  const flapping = panel('sensorflow-presence', 'Flapping devices (most reconnects)');
  test('bar titles are the device names and values their connect counts', () => {
    // top("connects", "device", 10): columns time, connects, device (no tags).
    const frame = tableFrame([series('device_presence', {}, ['connects', 'device'], [1, 14, 'dev-004'], [2, 9, 'dev-001'], [3, 2, 'dev-002'])], 'A', TAG_ORDERS.sorted!);
    const out = getFieldDisplayValues({
      data: [frame],
      reduceOptions: flapping.options.reduceOptions as never,
      fieldConfig: flapping.fieldConfig as never,
      replaceVariables: (value: string) => value,
      theme: createTheme(),
      timeZone: 'utc',
    });
    assert.deepEqual(out.map((v) => [v.display.title, v.display.text]), [['dev-004', '14'], ['dev-001', '9'], ['dev-002', '2']]);
  });
});

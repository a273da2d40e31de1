/** The benchmark's pure helpers: summaries, counter crossings, /metrics parsing, flags. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseBenchOptions, UsageError } from '../../bench/lib/options.ts';
import { parseMetrics } from '../../bench/lib/probe.ts';
import { crossingTimes, formatSummary, quantile, summarize } from '../../bench/lib/stats.ts';
import { backlogMessages } from '../../bench/lib/backlog.ts';

describe('bench stats', () => {
  test('quantile interpolates between ranks and summarize gives median and spread', () => {
    assert.equal(quantile([3, 1, 2], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([10, 20], 0.99), 19.9);
    assert.ok(Number.isNaN(quantile([], 0.5)));
    assert.deepEqual(summarize([5, 1, 3]), { median: 3, min: 1, max: 5, runs: 3 });
    assert.equal(formatSummary(summarize([61_200, 58_000, 64_100])), '61,200 (58,000–64,100)');
    assert.equal(formatSummary(summarize([0.4]), 2), '0.40');
  });

  test('crossingTimes takes the midpoint of the sampling interval where a counter left 0 and reached the total', () => {
    const samples = [
      { atMs: 0, value: 0 },
      { atMs: 100, value: 0 },
      { atMs: 200, value: 50 },
      { atMs: 300, value: 900 },
      { atMs: 400, value: 1000 },
      { atMs: 500, value: 1000 },
    ];
    assert.deepEqual(crossingTimes(samples, 0, 1000), { startMs: 150, endMs: 350 });
    assert.equal(crossingTimes(samples, 0, 2000), undefined);
  });
});

describe('bench probe', () => {
  test('parseMetrics sums each metric over its labels and skips comments', () => {
    const text = [
      '# HELP sensorflow_messages_received_total MQTT messages',
      '# TYPE sensorflow_messages_received_total counter',
      'sensorflow_messages_received_total{route="default"} 120',
      'sensorflow_messages_received_total{route="other"} 3',
      'sensorflow_points_written_total 99',
      'sensorflow_write_duration_seconds_sum{outcome="written"} 1.5',
      'sensorflow_write_duration_seconds_bucket{le="0.005",outcome="written"} 2',
      '',
    ].join('\n');
    const metrics = parseMetrics(text);
    assert.equal(metrics.get('sensorflow_messages_received_total'), 123);
    assert.equal(metrics.get('sensorflow_points_written_total'), 99);
    assert.equal(metrics.get('sensorflow_write_duration_seconds_sum'), 1.5);
    assert.equal(metrics.get('# HELP sensorflow_messages_received_total MQTT'), undefined);
  });
});

describe('bench backlog', () => {
  test('the parts of a backlog are disjoint and together make the whole, 4 fields and a timestamp each', () => {
    const shape = { messages: 1000, devices: 100, locations: 10, baseMs: Date.UTC(2026, 0, 1) };
    const whole = [...backlogMessages(shape, 0, 1)];
    const parts = [0, 1, 2, 3].flatMap((part) => [...backlogMessages(shape, part, 4)]);
    assert.equal(whole.length, 1000);
    assert.equal(parts.length, 1000);
    const keys = (messages: typeof whole): string[] =>
      messages.map((m) => `${m.topic} ${(JSON.parse(m.payload as string) as { ts: number }).ts}`).sort();
    assert.deepEqual(keys(parts), keys(whole));
    assert.equal(new Set(keys(whole)).size, 1000, 'one reading per device and second');
    const reading = JSON.parse(whole[0]?.payload as string) as Record<string, number>;
    assert.deepEqual(Object.keys(reading).sort(), ['battery', 'humidity', 'rssi', 'temperature', 'ts']);
    assert.match(whole[0]?.topic ?? '', /^sensors\/site-\d+\/dev-\d{3}\/telemetry$/);
  });
});

describe('bench options', () => {
  test('defaults, --quick, and refusals that name the flag', () => {
    const full = parseBenchOptions([]);
    assert.ok(full !== 'help');
    assert.deepEqual([full.messages, full.runs, full.rate, full.liveS, full.outageS], [400_000, 3, 20_000, 60, 30]);
    assert.deepEqual(full.suites, ['micro', 'drain', 'live', 'outage', 'grafana', 'fleet']);
    assert.deepEqual([full.grafanaDevices, full.grafanaHours, full.grafanaRuns], [[1000, 10_000], 6, 5]);
    const quick = parseBenchOptions(['--quick', '--only', 'drain,live', '--paths', 'v1']);
    assert.ok(quick !== 'help');
    assert.deepEqual([quick.messages, quick.runs, quick.rate, quick.liveS, quick.outageS], [40_000, 2, 5000, 15, 10]);
    assert.deepEqual(quick.suites, ['drain', 'live']);
    assert.deepEqual(quick.paths, ['v1']);
    const sized = parseBenchOptions(['--quick', '--only', 'grafana', '--devices', '500,2000', '--hours', '2', '--query-runs', '7']);
    assert.ok(sized !== 'help');
    assert.deepEqual([sized.suites, sized.grafanaDevices, sized.grafanaHours, sized.grafanaRuns], [['grafana'], [500, 2000], 2, 7]);
    const quickAll = parseBenchOptions(['--quick']);
    assert.ok(quickAll !== 'help');
    assert.deepEqual(quickAll.grafanaDevices, [200]);
    assert.throws(() => parseBenchOptions(['--devices', '1000,lots']), (error: unknown) => error instanceof UsageError && /--devices "lots"/.test(error.message));
    assert.equal(parseBenchOptions(['--help']), 'help');
    assert.throws(() => parseBenchOptions(['--runs', '0']), (error: unknown) => error instanceof UsageError && /--runs "0"/.test(error.message));
    assert.throws(() => parseBenchOptions(['--only', 'drain,speed']), (error: unknown) => error instanceof UsageError && /--only "drain,speed"/.test(error.message));
  });
});

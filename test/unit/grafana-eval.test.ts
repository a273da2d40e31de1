/**
 * The Grafana evaluator of test/harness/grafana-eval.ts on nil, NaN, NoData
 * and missing series (issue 23, finding 10), each as Grafana 12.0.2 has it
 * (the sources are cited beside the code in the harness):
 * - a `dropNN` reduce of a series with only nulls is nil, math with nil is
 *   nil, and a nil condition is NoData for that instance alone, which
 *   `noDataState: KeepLast` keeps as it was (a firing instance stays firing);
 * - a NaN condition fires;
 * - one query with no series at all is NoData for every instance;
 * - a series missing from a result is resolved after two evaluations.
 * InfluxDB's answers come from a small HTTP server on 127.0.0.1 that replies
 * with what InfluxDB 1.x replies for the series given (JSON with `null` for a
 * missing value, as /query does).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { evaluateRule, isFiring, isNoData, labelKey, simulate, type InfluxSeries, type RuleLike } from '../harness/grafana-eval.ts';

/** What the fake InfluxDB answers, per evaluation time (the query's upper bound), else the default. */
let answers: (toMs: number) => InfluxSeries[] = () => [];
let server: Server;
let url: string;

before(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const query = new URLSearchParams(body).get('q') ?? '';
      const to = Number(/time <= (\d+)ms/.exec(query)?.[1] ?? 0);
      const series = answers(to);
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ results: [{ statement_id: 0, ...(series.length > 0 && { series }) }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

const MINUTE = 60_000;
const T0 = 1_732_280_000_000;
const times = (n: number): number[] => Array.from({ length: n }, (_, i) => T0 + i * MINUTE);
const series = (device: string, value: number | null): InfluxSeries => ({ name: 'device_state', tags: { device }, columns: ['time', 'v'], values: [[T0, value]] });

/** `SELECT … GROUP BY device` → reduce last (dropNN) → `$B > 0`, the shape of every device rule. */
function rule(noDataState: string, condition = '$B > 0'): RuleLike {
  return {
    uid: 'test-rule',
    condition: 'C',
    for: '0s',
    noDataState,
    data: [
      { refId: 'A', relativeTimeRange: { from: 120, to: 0 }, datasourceUid: 'influx', model: { query: 'SELECT v FROM device_state WHERE $timeFilter GROUP BY device' } },
      { refId: 'B', relativeTimeRange: { from: 0, to: 0 }, datasourceUid: '__expr__', model: { type: 'reduce', expression: 'A', reducer: 'last', settings: { mode: 'dropNN' } } },
      { refId: 'C', relativeTimeRange: { from: 0, to: 0 }, datasourceUid: '__expr__', model: { type: 'math', expression: condition } },
    ],
  };
}

const key = (device: string): string => labelKey({ device });

describe('grafana-eval: nil, NaN and NoData as Grafana 12.0.2', () => {
  test('a series of nulls reduces to nil, math keeps it nil: NoData for that instance alone', async () => {
    answers = () => [series('quiet', null), series('loud', 5)];
    const evaluation = await evaluateRule(rule('KeepLast'), url, 'db', T0);
    assert.equal(evaluation.noData, false, 'the query returned series: not a whole-rule NoData');
    assert.ok(isNoData(evaluation.instances.get(key('quiet'))));
    assert.equal(evaluation.instances.get(key('quiet'))?.value, null);
    assert.ok(isFiring(evaluation.instances.get(key('loud'))));
  });

  test('KeepLast: a firing instance whose value turns nil stays firing (the silence rule\'s bug in finding 10); a new nil instance is Normal', async () => {
    answers = (to) => (to < T0 + MINUTE ? [series('was-silent', 300)] : [series('was-silent', null), series('new-nil', null)]);
    const { timeline } = await simulate(rule('KeepLast'), url, 'db', times(4));
    assert.equal(timeline[0]!.states.get(key('was-silent')), 'Alerting');
    for (const entry of timeline.slice(1)) {
      assert.equal(entry.states.get(key('was-silent')), 'Alerting', `at +${(entry.at - T0) / MINUTE} min: nil is NoData, kept`);
      assert.equal(entry.states.get(key('new-nil')), undefined, 'never seen before: Normal');
    }
  });

  test('noDataState NoData / OK on a nil instance: NoData, or resolved', async () => {
    answers = (to) => (to < T0 + MINUTE ? [series('d', 300)] : [series('d', null)]);
    assert.equal((await simulate(rule('NoData'), url, 'db', times(2))).final.get(key('d')), 'NoData');
    assert.equal((await simulate(rule('OK'), url, 'db', times(2))).final.get(key('d')), undefined);
  });

  test('a NaN condition fires', async () => {
    answers = () => [series('zero', 0)];
    const evaluation = await evaluateRule(rule('KeepLast', '$B / $B'), url, 'db', T0);
    const item = evaluation.instances.get(key('zero'));
    assert.ok(item !== undefined && Number.isNaN(item.value));
    assert.ok(isFiring(item), 'eval.go: "Nonzero (e.g 1.2, NaN) results in Alerting"');
  });

  test('a query with no series at all: NoData for every instance (KeepLast keeps them all)', async () => {
    answers = (to) => (to < T0 + MINUTE ? [series('a', 1), series('b', 0)] : []);
    const { timeline } = await simulate(rule('KeepLast'), url, 'db', times(5));
    for (const entry of timeline) assert.deepEqual(Object.fromEntries(entry.states), { [key('a')]: 'Alerting' });
    answers = () => [];
    assert.ok((await evaluateRule(rule('KeepLast'), url, 'db', T0)).noData);
  });

  test('a series missing from a result that has others is resolved after two evaluations', async () => {
    answers = (to) => (to < T0 + MINUTE ? [series('gone', 1), series('stays', 0)] : [series('stays', 0)]);
    const { timeline } = await simulate(rule('KeepLast'), url, 'db', times(4));
    assert.deepEqual(timeline.map((e) => e.states.get(key('gone')) ?? 'Normal'), ['Alerting', 'Alerting', 'Normal', 'Normal']);
  });
});

/**
 * The InfluxDB 3 write path: how its answers are read (bodies as
 * influxdata/influxdb v3.10.1 builds them, see ingestor/writer/outcome.ts),
 * what the delivery policy does with a partial write, the refusal of
 * INFLUX_API=v2 at an InfluxDB 3, the database name rule, and the
 * `ingest_rejects` record of a refused line.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfig, V3_WRITE_CONCURRENCY } from '../../ingestor/config.ts';
import { Delivery } from '../../ingestor/writer/delivery.ts';
import { writePath } from '../../ingestor/writer/influx-http.ts';
import { v3DatabaseNameProblem } from '../../ingestor/writer/influxdb3-rules.ts';
import { classifyV3Response, type WriteOutcome } from '../../ingestor/writer/outcome.ts';
import { isRefusedRecord, RefusedLineRecorder, refusedLinePoint } from '../../ingestor/writer/refused-lines.ts';
import { guardAgainstInfluxdb3, identifyPing, type ServerIdentity } from '../../ingestor/writer/server-identity.ts';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';

const silent = pino({ level: 'silent' });

/** `Error::PartialLpWrite` as http.rs serializes it: `original_line` cut to 20 bytes. */
const partialBody = (lines: { line_number: number; error_message: string; original_line?: string }[]): string =>
  JSON.stringify({ error: 'partial write of line protocol occurred', data: lines.map((l) => ({ error_message: l.error_message, line_number: l.line_number, original_line: (l.original_line ?? 'telemetry,device=d1 ').slice(0, 20) })) });

const TYPE_CONFLICT = "invalid column type for column 'temperature', expected iox::column_type::field::float, got iox::column_type::field::boolean";

describe('classifyV3Response: InfluxDB 3 answers to /api/v3/write_lp?accept_partial=true', () => {
  test('204 → written', () => assert.deepEqual(classifyV3Response(204, '', 0, 10), { kind: 'written' }));

  test('400 partial write → exactly the named lines (1-based numbers → 0-based indexes), with their reasons', () => {
    const outcome = classifyV3Response(400, partialBody([{ line_number: 2, error_message: TYPE_CONFLICT }, { line_number: 5000, error_message: 'No fields were provided' }]), 0, 5000);
    assert.deepEqual(outcome, {
      kind: 'partial', status: 400, message: 'partial write of line protocol occurred',
      refused: [{ index: 1, reason: TYPE_CONFLICT }, { index: 4999, reason: 'No fields were provided' }],
    });
  });

  test('422 partial write (a schema limit) is a partial write too', () => {
    const outcome = classifyV3Response(422, partialBody([{ line_number: 1, error_message: 'Update to schema would exceed number of columns per table limit of 500 columns' }]), 0, 3);
    assert.equal(outcome.kind, 'partial');
  });

  test('a line refused for Core\'s database limit is a server fault, retried, never bad data (http.rs l. 843–851 at v3.10.1 lists it among line errors)', () => {
    const body = partialBody([{ line_number: 1, error_message: 'Adding a new database would exceed limit of 5 databases' }, { line_number: 2, error_message: 'Adding a new database would exceed limit of 5 databases' }]);
    assert.deepEqual(classifyV3Response(422, body, 0, 2), { kind: 'server_error', status: 422, message: 'Adding a new database would exceed limit of 5 databases (HTTP 422: a server limit, not bad data; free a database or use Enterprise)' });
  });

  test('a 400 or 422 that names no line is a server fault, retried, never bad data', () => {
    const faults: [number, string][] = [
      [400, JSON.stringify({ error: "cannot write to soft-deleted database 'iot' - it is marked for deletion" })],
      [422, JSON.stringify({ error: 'Adding a new database would exceed limit of 5 databases' })],
      [400, 'incoming write was empty'],
      [400, ''],
    ];
    for (const [status, body] of faults) {
      const outcome = classifyV3Response(status, body, 0, 100);
      assert.equal(outcome.kind, 'server_error', body);
      assert.match((outcome as { message: string }).message, /naming no line/);
    }
  });

  test('a full write buffer, shutdown: 500 → server_error with v3\'s words', () => {
    assert.deepEqual(classifyV3Response(500, 'write buffer error: error from wal: wal buffer full with 100000 ops', 0, 10), {
      kind: 'server_error', status: 500, message: 'write buffer error: error from wal: wal buffer full with 100000 ops',
    });
  });

  test('a non-partial parse error (one line, nothing stored) is bisected like 1.x/2.x', () => {
    const body = JSON.stringify({ error: 'line protocol parsing error', data: { error_message: 'bad', line_number: 3, original_line: 'x' } });
    assert.equal(classifyV3Response(400, body, 0, 10).kind, 'rejected');
  });

  test('line numbers outside the batch, or repeated, are not trusted: bisect instead', () => {
    assert.equal(classifyV3Response(400, partialBody([{ line_number: 11, error_message: 'x' }]), 0, 10).kind, 'rejected');
    assert.equal(classifyV3Response(400, partialBody([{ line_number: 0, error_message: 'x' }]), 0, 10).kind, 'rejected');
    assert.equal(classifyV3Response(400, partialBody([{ line_number: 2, error_message: 'x' }, { line_number: 2, error_message: 'y' }]), 0, 10).kind, 'rejected');
  });

  test('413, 429, 401, 404 as for 2.x', () => {
    assert.equal(classifyV3Response(413, 'Request size exceeded', 0, 10).kind, 'too_large');
    assert.equal(classifyV3Response(429, '', 1000, 10).kind, 'throttled');
    assert.equal(classifyV3Response(401, '{"error": "unauthenticated"}', 0, 10).kind, 'misconfigured');
    assert.equal(classifyV3Response(404, '', 0, 10).kind, 'misconfigured');
  });
});

describe('Delivery of an InfluxDB 3 partial write', () => {
  test('one request: the named lines are rejected with v3\'s reason, the others counted written, nothing resent', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `telemetry,device=d${i} temperature=${i}.5 ${1_700_000_000_000 + i}`);
    lines[2345] = `telemetry,device=d2345 temperature=true ${1_700_000_002_345}`;
    const requests: number[] = [];
    const rejected: [string, string][] = [];
    let written = 0;
    const delivery = new Delivery({
      send: (batch) => {
        requests.push(batch.length);
        return Promise.resolve(classifyV3Response(400, partialBody([{ line_number: 2346, error_message: TYPE_CONFLICT }]), 0, batch.length));
      },
      log: silent,
      events: { written: (count) => void (written += count), rejected: (line, reason) => void rejected.push([line, reason]), retrying: () => {} },
    });
    await delivery.deliver(lines);
    assert.deepEqual(requests, [5000]);
    assert.deepEqual(rejected, [[lines[2345], TYPE_CONFLICT]]);
    assert.equal(written, 4999);
  });

  test('a 400 naming no line is retried until written: nothing is dropped', async () => {
    const lines = ['a f=1 1', 'b f=2 2'];
    let calls = 0;
    const rejected: string[] = [];
    let written = 0;
    const delivery = new Delivery({
      send: () => {
        calls += 1;
        return Promise.resolve(calls <= 2 ? classifyV3Response(400, JSON.stringify({ error: "cannot write to soft-deleted database 'iot' - it is marked for deletion" }), 0, 2) : { kind: 'written' });
      },
      log: silent,
      sleep: () => Promise.resolve(),
      events: { written: (count) => void (written += count), rejected: (line) => void rejected.push(line), retrying: () => {} },
    });
    await delivery.deliver(lines);
    assert.equal(calls, 3);
    assert.deepEqual(rejected, []);
    assert.equal(written, 2);
  });
});

describe('writePath for INFLUX_API=v3', () => {
  test('/api/v3/write_lp with the database, ms precision and accept_partial=true', () => {
    const config = { url: 'http://x:8181', api: 'v3', token: 't', org: 'o', bucket: 'iot', username: undefined, password: undefined, timeoutMs: 1000, ca: undefined } as const;
    assert.equal(writePath(config), '/api/v3/write_lp?db=iot&precision=ms&accept_partial=true');
  });
});

describe('identifyPing and the refusal of INFLUX_API=v2 at InfluxDB 3', () => {
  const v3Ping = JSON.stringify({ product_name: 'InfluxDB 3 Core', version: '3.10.1', revision: 'ff6872a', process_id: '0199a1f2-0000-7000-8000-000000000000' });

  test('InfluxDB 3\'s /ping body names it; 1.x/2.x\'s 204, a 401 or another JSON do not', () => {
    assert.deepEqual(identifyPing(200, v3Ping), { kind: 'influxdb3', product: 'InfluxDB 3 Core', version: '3.10.1' });
    assert.deepEqual(identifyPing(200, JSON.stringify({ version: '3.0.3', revision: 'x', process_id: 'y' })), { kind: 'influxdb3', product: 'InfluxDB 3', version: '3.0.3' });
    assert.equal(identifyPing(204, '').kind, 'other');
    assert.equal(identifyPing(401, '{"error": "unauthenticated"}').kind, 'other');
    assert.equal(identifyPing(200, '{"status":"ok","version":"2.7.11"}').kind, 'other');
    assert.equal(identifyPing(200, 'OK').kind, 'other');
  });

  test('the guard: nothing is sent before the server answers; InfluxDB 3 → refused naming INFLUX_API, data kept; another server → writes go through', async () => {
    const sent: string[][] = [];
    const send = (lines: readonly string[]): Promise<WriteOutcome> => {
      sent.push([...lines]);
      return Promise.resolve({ kind: 'written' });
    };
    const config = { api: 'v2', url: 'http://influx:8181' } as const;

    let answer: ServerIdentity | Error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8181'), { code: 'ECONNREFUSED' });
    const told: string[] = [];
    const guarded = guardAgainstInfluxdb3(send, () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)), config, (message) => told.push(message));
    assert.equal((await guarded(['a f=1 1'])).kind, 'network_error');
    answer = identifyPing(200, v3Ping);
    const refused = await guarded(['a f=1 1']);
    assert.equal(refused.kind, 'misconfigured');
    assert.match((refused as { message: string }).message, /^INFLUX_API=v2 but INFLUX_URL is InfluxDB 3 Core 3\.10\.1 .*set INFLUX_API=v3/);
    await guarded(['a f=1 1']);
    assert.equal(told.length, 1, 'told once');
    assert.deepEqual(sent, [], 'nothing sent to InfluxDB 3 through /api/v2/write');

    const other = guardAgainstInfluxdb3(send, () => Promise.resolve(identifyPing(204, '')), config, () => assert.fail('not InfluxDB 3'));
    assert.deepEqual(await other(['b f=2 2']), { kind: 'written' });
    assert.deepEqual(sent, [['b f=2 2']]);
  });
});

describe('v3DatabaseNameProblem (validate_db_name, http.rs v3.10.1)', () => {
  test('accepted names', () => {
    for (const name of ['iot', 'IoT_2', 'a-b', '9lives', 'db/rp', 'x'.repeat(511)]) assert.equal(v3DatabaseNameProblem(name), undefined, name);
  });
  test('refused names, with InfluxDB 3\'s reason', () => {
    assert.match(v3DatabaseNameProblem('my.db')!, /invalid character/);
    assert.match(v3DatabaseNameProblem('büro')!, /must be ASCII/);
    assert.match(v3DatabaseNameProblem('_iot')!, /did not start with a number or letter/);
    assert.match(v3DatabaseNameProblem('a/b/c')!, /retention policy/);
    assert.match(v3DatabaseNameProblem('iot/')!, /retention policy/);
    assert.match(v3DatabaseNameProblem('')!, /empty/);
    assert.match(v3DatabaseNameProblem('x'.repeat(512))!, /too long: max 511/);
  });
});

describe('loadConfig with INFLUX_API=v3', () => {
  const base = { INFLUX_API: 'v3', INFLUX_URL: 'http://localhost:8181', INFLUX_TOKEN: 'apiv3_x' };

  test('a database name InfluxDB 3 refuses is a configuration error naming INFLUX_BUCKET, the value and the rule', () => {
    assert.throws(() => loadConfig({ ...base, INFLUX_BUCKET: 'sensor.data' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /INFLUX_BUCKET/);
      assert.match(error.message, /sensor\.data/);
      assert.match(error.message, /ASCII letters, digits/);
      return true;
    });
    assert.equal(loadConfig({ ...base, INFLUX_BUCKET: 'sensor_data' }).influx.bucket, 'sensor_data');
  });

  test('WRITE_CONCURRENCY defaults to 8 with v3 (1 s per acknowledgement), 2 otherwise; a set value wins', () => {
    assert.equal(V3_WRITE_CONCURRENCY, 8);
    assert.equal(loadConfig(base).pipeline.writeConcurrency, 8);
    assert.equal(loadConfig({ ...base, WRITE_CONCURRENCY: '3' }).pipeline.writeConcurrency, 3);
    assert.equal(loadConfig({ INFLUX_API: 'v2' }).pipeline.writeConcurrency, 2);
  });
});

describe('refused lines → ingest_rejects', () => {
  test('the point: reason influx_rejected, route influxdb, InfluxDB\'s reason and the line', () => {
    const line = 'telemetry,device=d1,location=hall temperature=true 1700000000000';
    assert.equal(
      encodePoint(refusedLinePoint(line, TYPE_CONFLICT, 1_700_000_000_123)),
      `ingest_rejects,reason=influx_rejected,route=influxdb topic="",error="${TYPE_CONFLICT}",payload="${line}" 1700000000123`,
    );
  });

  test('recorded through the log, rate-limited, never for its own refused record', () => {
    const appended: string[] = [];
    const wal = { appendState: { kind: 'open' }, append: (lines: readonly string[]) => void appended.push(...lines) };
    const recorder = new RefusedLineRecorder({ wal, log: silent, perSecond: 2, now: () => 1000 });
    recorder.record('a f=1 1', 'bad');
    const own = appended[0]!;
    assert.ok(isRefusedRecord(own));
    recorder.record(own, 'refused too');
    recorder.record('b f=2 2', 'bad');
    recorder.record('c f=3 3', 'bad');
    assert.equal(appended.length, 2, 'the record of a record is not written; then 2 a second');
    wal.appendState.kind = 'full';
    recorder.record('d f=4 4', 'bad');
    assert.equal(appended.length, 2, 'nothing while the log takes nothing');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sparkplug from 'sparkplug-payload';
import type { Handler } from '../../ingestor/contracts.ts';
import { createSparkplugHandler } from '../../ingestor/decoders/sparkplug.ts';
import { encodePoints } from '../../ingestor/pipeline/to-lines.ts';
import { decodeWith } from '../harness/decode.ts';

const codec = sparkplug.get('spBv1.0')!;
const T = 1732280000000;
const message = (topic: string, payload: object) => ({ topic, payload: Buffer.from(codec.encodePayload(payload)), receivedAtMs: T + 500 });
/** Decodes with `handler`, a fresh one (no BIRTH seen, as at start-up) unless given. */
const decode = (topic: string, payload: object, handler: Handler = createSparkplugHandler()) => decodeWith(handler, message(topic, payload));

describe('Sparkplug handler: match', () => {
  test('node and device topics; anything else is not Sparkplug', () => {
    const handler = createSparkplugHandler();
    const match = (topic: string) => handler.match(topic);
    assert.deepEqual(match('spBv1.0/plant/DDATA/gw-1/press-7'), { group: 'plant', type: 'DDATA', edge: 'gw-1', device: 'press-7' });
    assert.deepEqual(match('spBv1.0/plant/NBIRTH/gw-1'), { group: 'plant', type: 'NBIRTH', edge: 'gw-1' });
    for (const topic of ['spBv1.0/plant/NOPE/gw-1', 'spBv1.0/plant', 'spAv1.0/g/NDATA/e', 'spBv1.0/g/DDATA/e/d/x']) assert.equal(match(topic), null, topic);
  });
});

describe('Sparkplug handler: decode', () => {
  const birth = {
    timestamp: T,
    seq: 0,
    metrics: [
      { name: 'Inputs/Temperature', alias: 1, type: 'Double', value: 21.5 },
      { name: 'Counters/Total', alias: 2, type: 'Int64', value: '9007199254740993' },
      { name: 'Counters/Max', alias: 3, type: 'UInt64', value: '9223372036854775807' },
      { name: 'Flags', alias: 7, type: 'UInt32', value: 4294967295 },
      { name: 'Offset', alias: 8, type: 'Int8', value: -3 },
      { name: 'Running', alias: 4, type: 'Boolean', value: true },
      { name: 'Firmware', alias: 5, type: 'String', value: '1.2.3' },
      { name: 'Table', alias: 6, type: 'DataSet', value: { numOfColumns: 1, columns: ['a'], types: ['Int32'], rows: [[1]] } },
    ],
  };

  test('a DBIRTH: every metric named, 64-bit values exact, non-readings left out, online', () => {
    const result = decode('spBv1.0/plant/DBIRTH/gw-1/press-7', birth);
    assert.ok(result.ok);
    const lines = encodePoints(result.points);
    assert.ok(lines.ok);
    // Unsigned values as signed integers: InfluxDB 1.x has no unsigned type.
    assert.deepEqual(lines.lines, [`sparkplug,device=press-7,edge=gw-1,group=plant Inputs/Temperature=21.5,Counters/Total=9007199254740993i,Counters/Max=9223372036854775807i,Flags=4294967295i,Offset=-3i,Running=true,Firmware="1.2.3" ${T}`]);
    assert.deepEqual(result.presence, [{ device: 'press-7', source: 'sparkplug', online: true, atMs: T, reason: 'dbirth' }]);
  });

  test('after its DBIRTH, a DDATA by alias alone; metrics with their own timestamps become separate points', () => {
    const handler = createSparkplugHandler();
    assert.ok(decode('spBv1.0/plant/DBIRTH/gw-1/press-7', birth, handler).ok);
    const result = decode('spBv1.0/plant/DDATA/gw-1/press-7', {
      timestamp: T + 100,
      seq: 1,
      metrics: [
        { alias: 1, type: 'Double', value: 22, timestamp: T + 50 },
        { alias: 2, type: 'Int64', value: '-9223372036854775808', timestamp: T + 100 },
      ],
    }, handler);
    assert.ok(result.ok);
    assert.equal(result.presence, undefined);
    assert.deepEqual((encodePoints(result.points) as { lines: string[] }).lines, [
      `sparkplug,device=press-7,edge=gw-1,group=plant Inputs/Temperature=22 ${T + 50}`,
      `sparkplug,device=press-7,edge=gw-1,group=plant Counters/Total=-9223372036854775808i ${T + 100}`,
    ]);
  });

  test('a UInt64 above 2^63-1 is a reject, never a rounded value', () => {
    const result = decode('spBv1.0/plant/NDATA/gw-1', { timestamp: T, metrics: [{ name: 'Huge', type: 'UInt64', value: '18446744073709551615' }] });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'bad_field');
    assert.match(result.error, /"Huge" is a UInt64 above 2\^63-1/);
  });

  test('an alias never named by a BIRTH is a reject that says so; alias tables are per device and per handler', () => {
    const handler = createSparkplugHandler();
    assert.ok(decode('spBv1.0/plant/DBIRTH/gw-1/other', birth, handler).ok);
    const data = { timestamp: T, metrics: [{ alias: 1, type: 'Double', value: 1 }] };
    const result = decode('spBv1.0/plant/DDATA/gw-1/press-7', data, handler);
    assert.ok(!result.ok);
    assert.equal(result.reason, 'unknown_alias');
    assert.match(result.error, /metric alias 1 has no name: no DBIRTH seen for plant\/gw-1\/press-7/);
    assert.ok(decode('spBv1.0/plant/DDATA/gw-1/other', data, handler).ok, 'the device that had its BIRTH');
    assert.equal(decode('spBv1.0/plant/DDATA/gw-1/other', data).ok, false, 'a new handler knows no alias');
  });

  test('NDEATH: the edge node goes offline; no points', () => {
    const result = decode('spBv1.0/plant/NDEATH/gw-1', { timestamp: T, metrics: [{ name: 'bdSeq', type: 'Int64', value: 3 }] });
    assert.deepEqual(result, { ok: true, points: [], presence: [{ device: 'gw-1', source: 'sparkplug', online: false, atMs: T, reason: 'ndeath' }] });
  });

  test('garbage is bad_sparkplug; commands and STATE are ignored', () => {
    const garbage = decodeWith(createSparkplugHandler(), { topic: 'spBv1.0/g/NDATA/e', payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), receivedAtMs: T });
    assert.ok(!garbage.ok);
    assert.equal(garbage.reason, 'bad_sparkplug');
    assert.deepEqual(decode('spBv1.0/g/NCMD/e', { metrics: [] }), { ok: true, points: [] });
  });

  test('the same bounds as every handler: MAX_PAYLOAD_BYTES and TIMESTAMP_MAX_FUTURE_MS', () => {
    const big = message('spBv1.0/g/NDATA/e', { timestamp: T, metrics: [{ name: 'Text', type: 'String', value: 'x'.repeat(2000) }] });
    const tooLarge = decodeWith(createSparkplugHandler(), big, { maxPayloadBytes: 1000 });
    assert.ok(!tooLarge.ok);
    assert.equal(tooLarge.reason, 'payload_too_large');
    assert.ok(decodeWith(createSparkplugHandler(), big, { maxPayloadBytes: 4000 }).ok);
    const ahead = message('spBv1.0/g/NDATA/e', { timestamp: T + 3_600_000, metrics: [{ name: 'v', type: 'Double', value: 1 }] });
    assert.ok(decodeWith(createSparkplugHandler(), ahead).ok);
    const refused = decodeWith(createSparkplugHandler(), ahead, { maxFutureMs: 60_000 });
    assert.ok(!refused.ok);
    assert.equal(refused.reason, 'bad_timestamp');
  });
});

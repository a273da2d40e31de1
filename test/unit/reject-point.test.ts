import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';
import { rejectPoint } from '../../ingestor/pipeline/reject-point.ts';

describe('rejectPoint', () => {
  test('reason and route as tags; topic, error and a payload sample as fields', () => {
    const line = encodePoint(rejectPoint({ topic: 'sensors/lab/d1/telemetry', payload: Buffer.from('{"t":'), receivedAtMs: 1732280000000, reason: 'invalid_json', error: 'payload is not JSON', route: 'default' }));
    assert.equal(line, 'ingest_rejects,reason=invalid_json,route=default topic="sensors/lab/d1/telemetry",error="payload is not JSON",payload="{\\"t\\":" 1732280000000');
  });

  test('hostile input is recorded, never a second failure: control characters, invalid UTF-8, oversized payloads', () => {
    const point = rejectPoint({
      topic: 'sensors/a\nb/d\u0000/telemetry', payload: Buffer.concat([Buffer.from([0xff, 0xfe, 0x0a, 0x22, 0x5c]), Buffer.alloc(1000, 0x41)]),
      receivedAtMs: 1732280000000, reason: 'bad_point', error: 'bad\r\nthings', route: 'default',
    });
    const line = encodePoint(point);
    assert.ok(!line.includes('\n') && !line.includes('\r'));
    const payload = (point.fields.payload as { value: string }).value;
    assert.equal(payload, `\uFFFD\uFFFD\uFFFD"\\${'A'.repeat(195)}…`);
    assert.equal((point.fields.topic as { value: string }).value, 'sensors/a\uFFFDb/d\uFFFD/telemetry');
  });
});

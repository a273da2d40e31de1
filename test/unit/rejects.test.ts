import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { RateLimiter, RejectLog } from '../../ingestor/pipeline/rejects.ts';

describe('RejectLog', () => {
  test('counts every reject by reason but logs at most the rate, then says how many it held back', () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    let now = 0;
    const rejects = new RejectLog(log, { linesPerSecond: 2, now: () => now });
    for (let i = 0; i < 10; i += 1) rejects.record({ topic: `t/${i}`, reason: i % 2 ? 'invalid_json' : 'no_fields', error: 'x' });
    assert.deepEqual(rejects.counts(), { no_fields: 5, invalid_json: 5 });
    assert.equal(rejects.total, 10);
    assert.deepEqual(lines.map((l) => l.topic), ['t/0', 't/1']);
    now = 1000;
    rejects.record({ topic: 't/10', reason: 'no_fields', error: 'x' });
    assert.equal(lines.at(-1)?.topic, 't/10');
    assert.equal(lines.at(-1)?.suppressed, 8);
  });

  test('RateLimiter refills with time', () => {
    const limiter = new RateLimiter(1, 0);
    assert.equal(limiter.tryTake(0), true);
    assert.equal(limiter.tryTake(500), false);
    assert.equal(limiter.tryTake(1000), true);
  });
});

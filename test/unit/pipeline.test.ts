import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { Batcher } from '../../ingestor/pipeline/batcher.ts';
import { RateLimiter, RejectLog } from '../../ingestor/pipeline/rejects.ts';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('Batcher', () => {
  test('cuts full batches by size, in order, and the rest on flush', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher({ batchSize: 3, flushIntervalMs: 60_000, concurrency: 1, maxQueuedBatches: 100, deliver: (b) => Promise.resolve(void batches.push(b)) });
    await batcher.add(['1', '2']);
    await batcher.add(['3', '4', '5', '6', '7']);
    await batcher.drain();
    assert.deepEqual(batches, [['1', '2', '3'], ['4', '5', '6'], ['7']]);
  });

  test('flushes a partial batch after flushIntervalMs', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher({ batchSize: 100, flushIntervalMs: 20, concurrency: 1, maxQueuedBatches: 100, deliver: (b) => Promise.resolve(void batches.push(b)) });
    await batcher.add(['a']);
    assert.deepEqual(batches, []);
    await tick(60);
    assert.deepEqual(batches, [['a']]);
  });

  test('pushes back when maxQueuedBatches wait, and lets go when the writer catches up', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const delivered: string[][] = [];
    const batcher = new Batcher({
      batchSize: 1, flushIntervalMs: 60_000, concurrency: 1, maxQueuedBatches: 2,
      deliver: async (b) => {
        await blocked;
        delivered.push(b);
      },
    });
    assert.equal(batcher.add(['1']), undefined); // running
    assert.equal(batcher.add(['2']), undefined); // queued: 1
    const third = batcher.add(['3']); // queued: 2 → push back
    assert.ok(third instanceof Promise);
    let settled = false;
    void third.then(() => (settled = true));
    await tick(20);
    assert.equal(settled, false, 'still pushing back while the writer is stuck');
    release();
    await third;
    await batcher.drain();
    assert.deepEqual(delivered, [['1'], ['2'], ['3']]);
  });

  test('rejects a bad option by naming it', () => {
    assert.throws(
      () => new Batcher({ batchSize: 0, flushIntervalMs: 1, concurrency: 1, maxQueuedBatches: 1, deliver: () => Promise.resolve() }),
      /Batcher option batchSize must be a whole number ≥ 1, got 0/,
    );
  });
});

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

/**
 * In-process micro-benchmarks of the per-message stages, to catch
 * regressions: the pipeline (`Ingest` with the production handler table:
 * decode, enrich, encode) into an in-memory log, encode alone (points →
 * line protocol) and append (one record per message to the write-ahead log:
 * a write(2), fdatasync once a second as by default). Each figure is the
 * median of `runs` timed passes after a warm-up pass.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { InboundMessage } from '../../ingestor/contracts.ts';
import { RollupBook } from '../../ingestor/rollups/book.ts';
import { WriteAheadLog } from '../../ingestor/wal/wal.ts';
import { memoryIngest } from '../../test/harness/memory-ingest.ts';
import { backlogMessages } from '../lib/backlog.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface MicroResult {
  readonly messages: number;
  /** Operations per second: median and spread over the runs. */
  readonly pipelinePerSecond: Summary;
  /** The same with the per-minute rollups on (ROLLUPS=true, the default; ingestor/rollups/). Absent in results from before rollups. */
  readonly pipelineWithRollupsPerSecond?: Summary;
  readonly appendPerSecond: Summary;
}

function timeRuns(runs: number, count: number, pass: () => void): Summary {
  pass(); // warm-up: JIT, caches
  const rates: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    pass();
    rates.push(Math.round(count / ((performance.now() - started) / 1000)));
  }
  return summarize(rates);
}

export function benchMicro(messagesCount: number, runs: number): MicroResult {
  const receivedAtMs = Date.now();
  const messages: InboundMessage[] = [...backlogMessages({ messages: messagesCount, devices: 1000, locations: 10, baseMs: receivedAtMs - 86_400_000 })].map((m) => ({
    topic: m.topic,
    payload: Buffer.from(m.payload),
    receivedAtMs,
    retained: false,
    qos: 1,
  }));

  let lines: string[][] = [];
  const pipelinePerSecond = timeRuns(runs, messages.length, () => {
    const { ingest, log } = memoryIngest({ emqxPresence: false, sparkplug: false });
    for (const message of messages) {
      if (ingest.accept(message) !== undefined) throw new Error('benchmark message not taken at once');
    }
    if (log.records.length !== messages.length) throw new Error(`benchmark messages rejected: ${messages.length - log.records.length}`);
    lines = log.records;
  });

  // ROLLUPS=true as main.ts wires it: each logged telemetry point also goes into the book.
  const pipelineWithRollupsPerSecond = timeRuns(runs, messages.length, () => {
    const rollups = new RollupBook({ measurements: ['telemetry'], graceMs: 30_000, maxBuckets: 1_000_000, instance: 'bench' }, receivedAtMs);
    const { ingest } = memoryIngest({ emqxPresence: false, sparkplug: false, rollups });
    for (const message of messages) {
      if (ingest.accept(message) !== undefined) throw new Error('benchmark message not taken at once');
    }
    if (rollups.counters.added !== messages.length) throw new Error(`benchmark messages not rolled up: ${messages.length - rollups.counters.added}`);
  });

  const dir = mkdtempSync(join(tmpdir(), 'sensorflow-bench-wal-'));
  const wal = WriteAheadLog.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 1000 }, pino({ level: 'silent' }));
  try {
    const appendPerSecond = timeRuns(runs, lines.length, () => {
      for (const messageLines of lines) void wal.append(messageLines);
    });
    return { messages: messages.length, pipelinePerSecond, pipelineWithRollupsPerSecond, appendPerSecond };
  } finally {
    wal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

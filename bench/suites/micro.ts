/**
 * In-process micro-benchmarks of the per-message stages, to catch
 * regressions: decode (payload → points, the default route), encode
 * (points → line protocol) and append (one record per message to the
 * write-ahead log: a write(2), fdatasync once a second as by default).
 * Each figure is the median of `runs` timed passes after a warm-up pass.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { InboundMessage } from '../../ingestor/decoders/types.ts';
import type { Point } from '../../ingestor/model/point.ts';
import { encodePoints } from '../../ingestor/pipeline/to-lines.ts';
import { createRouter } from '../../ingestor/routes/router.ts';
import { DEFAULT_ROUTES_YAML, parseRoutes } from '../../ingestor/routes/routes-file.ts';
import { WriteAheadLog } from '../../ingestor/wal/wal.ts';
import { backlogMessages } from '../lib/backlog.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface MicroResult {
  readonly messages: number;
  /** Operations per second: median and spread over the runs. */
  readonly decodePerSecond: Summary;
  readonly encodePerSecond: Summary;
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
  }));
  const decode = createRouter(parseRoutes('default', DEFAULT_ROUTES_YAML), { maxPayloadBytes: 256 * 1024, maxFutureMs: 86_400_000 });

  let decoded: (readonly Point[])[] = [];
  const decodePerSecond = timeRuns(runs, messages.length, () => {
    decoded = messages.map((message) => {
      const result = decode(message);
      if (!result.ok) throw new Error(`benchmark message rejected: ${result.error}`);
      return result.points;
    });
  });

  let lines: string[][] = [];
  const encodePerSecond = timeRuns(runs, decoded.length, () => {
    lines = decoded.map((points) => {
      const result = encodePoints(points);
      if (!result.ok) throw new Error(`benchmark point rejected: ${result.error}`);
      return result.lines;
    });
  });

  const dir = mkdtempSync(join(tmpdir(), 'sensorflow-bench-wal-'));
  const wal = WriteAheadLog.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 1000 }, pino({ level: 'silent' }));
  try {
    const appendPerSecond = timeRuns(runs, lines.length, () => {
      for (const messageLines of lines) void wal.append(messageLines);
    });
    return { messages: messages.length, decodePerSecond, encodePerSecond, appendPerSecond };
  } finally {
    wal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

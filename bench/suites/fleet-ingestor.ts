/**
 * The ingestor's liveness side at fleet scale (issue 24 item 4), in process
 * with the ingestor's own code: a device directory of `devices` devices
 * (a share offline, a share silent), the LivenessTicker writing into an
 * in-memory log, the directory saved to a temp dir as at every tick.
 * Measured:
 * - RSS after the book is filled;
 * - tick time (device_state + device_trouble lines for every device) and the
 *   event-loop delay while ticks and their directory saves run
 *   (perf_hooks.monitorEventLoopDelay, max and p99);
 * - the directory file's size, its save time, and the restart time (loading
 *   it into a new directory);
 * - storage per day: points and line-protocol bytes of device_state and
 *   device_trouble per tick, times the ticks in a day (an upper bound of
 *   what InfluxDB keeps: it compresses).
 * Optionally (`influxUrl`) the three device rules' queries against an
 * InfluxDB 1.x holding an hour of these ticks: time per query (best of 3)
 * and series returned.
 *
 * bench/run.ts runs it under `--only fleet`, for each `--devices` size,
 * with 60 ticks (an hour) and 1 % offline, 1 % silent.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { ruleGroups } from '../../grafana/src/alert-rules.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { parseRegistry } from '../../ingestor/directory/registry.ts';
import { LagCounter } from '../../ingestor/liveness/catch-up.ts';
import { LivenessTicker } from '../../ingestor/liveness/ticker.ts';
import { emptyStats } from '../../ingestor/pipeline/stats.ts';
import { renderMacros, runInfluxQL } from '../../test/harness/grafana-eval.ts';
import { MemoryLog } from '../../test/harness/memory-ingest.ts';

export interface FleetIngestorOptions {
  readonly devices: number;
  /** Share offline (presence says so for 90 min), e.g. 0.01. */
  readonly offlineShare: number;
  /** Share silent for 30 min (telemetry-only). */
  readonly silentShare: number;
  readonly ticks: number;
  /** InfluxDB 1.x to measure the device rules on (database created here), or none. */
  readonly influxUrl?: string;
}

export interface RuleCost {
  readonly uid: string;
  readonly bestMs: number;
  readonly series: number;
}

export interface FleetIngestorResult {
  readonly devices: number;
  readonly rssMiB: number;
  readonly tickMs: { readonly median: number; readonly max: number };
  readonly eventLoopDelayMs: { readonly max: number; readonly p99: number };
  readonly directoryBytes: number;
  readonly saveMs: number;
  readonly restartMs: number;
  readonly perDay: { readonly deviceStatePoints: number; readonly deviceStateBytes: number; readonly deviceTroublePoints: number; readonly deviceTroubleBytes: number };
  readonly rules: readonly RuleCost[];
}

const MINUTE = 60_000;
/** Devices fed into the book in one event-loop turn. */
const FEED_TURN = 500;
const quiet = pino({ level: 'silent' });

export async function benchFleetIngestor(options: FleetIngestorOptions): Promise<FleetIngestorResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sensorflow-fleet-ingestor-'));
  try {
    const file = join(dir, 'devices.json');
    const registry = parseRegistry('devices.yaml', 'devices: {}\n');
    const directory = new DeviceDirectory(registry, file, quiet);
    const wal = new MemoryLog();
    const start = Math.floor(Date.now() / MINUTE) * MINUTE - options.ticks * MINUTE;
    let clock = start;
    const ticker = new LivenessTicker({
      intervalMs: MINUTE, forgetAfterMs: undefined, troubleSilentAfterMs: 5 * MINUTE, instance: 'bench', directory, wal, canAppend: () => true,
      stats: emptyStats(), lag: new LagCounter(MINUTE), broker: { connected: true, connections: 0 }, log: quiet, now: () => clock, sharedGroup: false,
    });
    const offline = Math.round(options.devices * options.offlineShare);
    const silentCount = Math.round(options.devices * options.silentShare);
    // Messages reach the book a few at a time between other work, as from the broker: the feed yields every
    // FEED_TURN devices, so the event-loop delay measured below is the ticker's and the save's, not the bench's own.
    const feed = async (tick: number): Promise<void> => {
      for (let i = 0; i < options.devices; i += 1) {
        if (i % FEED_TURN === FEED_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
        const device = `dev-${String(i).padStart(6, '0')}`;
        if (i < offline) {
          directory.liveness.seen(device, start - 90 * MINUTE, tick);
          directory.liveness.presence(device, false, start - 90 * MINUTE, 'lwt', tick);
        } else if (i < offline + silentCount) {
          directory.liveness.seen(device, start - 30 * MINUTE, tick);
        } else {
          directory.liveness.seen(device, tick - (i % 10) * 1000, tick);
        }
      }
      // Learned locations: 20 places, as the measurement.
      if (tick === start) for (let i = 0; i < options.devices; i += 1) directory.learnLocation(`dev-${String(i).padStart(6, '0')}`, `site-${i % 20}`);
    };
    await feed(start);
    const rssMiB = Math.round(process.memoryUsage().rss / 1048576);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const tickTimes: number[] = [];
    for (let t = 0; t < options.ticks; t += 1) {
      clock = start + t * MINUTE;
      await feed(clock);
      const began = performance.now();
      await ticker.tick();
      tickTimes.push(performance.now() - began);
      await new Promise((resolve) => setImmediate(resolve));
    }
    delay.disable();
    const savedAt = performance.now();
    await directory.save();
    const saveMs = performance.now() - savedAt;
    const loadAt = performance.now();
    new DeviceDirectory(registry, file, quiet); // the restart: load only
    const restartMs = performance.now() - loadAt;
    const count = (measurement: string) => wal.lines.filter((line) => line.startsWith(`${measurement},`));
    const state = count('device_state');
    const trouble = count('device_trouble');
    const ticksPerDay = 1440 / options.ticks;
    const bytes = (lines: string[]) => lines.reduce((sum, line) => sum + line.length + 1, 0);
    tickTimes.sort((a, b) => a - b);
    const rules: RuleCost[] = [];
    if (options.influxUrl !== undefined) {
      const db = `fleet_${options.devices}`;
      await runInfluxQL(options.influxUrl, db, `CREATE DATABASE ${db}`).catch(() => undefined);
      await fetch(`${options.influxUrl}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }) });
      for (let i = 0; i < wal.lines.length; i += 5000) {
        const response = await fetch(`${options.influxUrl}/write?db=${db}&precision=ms`, { method: 'POST', body: wal.lines.slice(i, i + 5000).join('\n') });
        if (response.status !== 204) throw new Error(`write: ${response.status} ${await response.text()}`);
      }
      const now = clock + 30_000;
      for (const rule of ruleGroups(loadThresholds()).flatMap((g) => g.rules).filter((r) => r.uid.startsWith('sensorflow-device-'))) {
        const data = rule.data.find((d) => d.datasourceUid !== '__expr__')!;
        const query = renderMacros(String(data.model.query), now - data.relativeTimeRange.from * 1000, now, 60_000);
        let bestMs = Number.POSITIVE_INFINITY;
        let series = 0;
        for (let run = 0; run < 3; run += 1) {
          const began = performance.now();
          series = (await runInfluxQL(options.influxUrl, db, query)).length;
          bestMs = Math.min(bestMs, performance.now() - began);
        }
        rules.push({ uid: rule.uid, bestMs: Math.round(bestMs * 10) / 10, series });
      }
    }
    return {
      devices: options.devices,
      rssMiB,
      tickMs: { median: Math.round(tickTimes[Math.floor(tickTimes.length / 2)]!), max: Math.round(tickTimes.at(-1)!) },
      eventLoopDelayMs: { max: Math.round(delay.max / 1e6), p99: Math.round(delay.percentile(99) / 1e6) },
      directoryBytes: statSync(file).size,
      saveMs: Math.round(saveMs),
      restartMs: Math.round(restartMs),
      perDay: {
        deviceStatePoints: Math.round(state.length * ticksPerDay), deviceStateBytes: Math.round(bytes(state) * ticksPerDay),
        deviceTroublePoints: Math.round(trouble.length * ticksPerDay), deviceTroubleBytes: Math.round(bytes(trouble) * ticksPerDay),
      },
      rules,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

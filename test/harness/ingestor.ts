/**
 * Runs the real ingestor as a child process (`node --import tsx ingestor/main.ts`),
 * in a temporary working directory so the repository's .env does not leak in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GiveUp, startProcess, waitFor, type ManagedProcess } from './process.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(REPO_ROOT, 'ingestor', 'main.ts');
// Absolute, because the ingestor runs in a temporary directory with no node_modules.
const TSX = import.meta.resolve('tsx');

export interface Ingestor {
  readonly process: ManagedProcess;
  readonly cwd: string;
  /** Parsed JSON log lines so far. */
  logLines(): Record<string, unknown>[];
  waitForLog(what: string, predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | string>;
  cleanup(): void;
}

/** Only what the test passes: no inherited INFLUX_* or MQTT_* from the developer's shell. */
function isolatedEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'NODE_OPTIONS']) {
    if (process.env[key] !== undefined) base[key] = process.env[key];
  }
  // No HTTP server and no periodic ingestor_stats, device_state or rollup points
  // unless a test asks: tests that count measurements must not race a timer.
  return { ...base, LOG_LEVEL: 'info', HTTP_PORT: '0', STATS_INTERVAL_MS: '3600000', DEVICE_STATE_INTERVAL_S: '3600', ROLLUPS: 'false', ...env };
}

/** `nodeArgs` go before the script, e.g. `--cpu-prof` (which NODE_OPTIONS does not allow). */
export function startIngestor(env: Record<string, string>, name = 'ingestor', nodeArgs: readonly string[] = []): Ingestor {
  const cwd = mkdtempSync(join(tmpdir(), 'sensorflow-ingestor-'));
  const child = startProcess(name, process.execPath, [...nodeArgs, '--import', TSX, MAIN], { cwd, env: isolatedEnv(env) });
  const logLines = (): Record<string, unknown>[] =>
    child
      .log()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    process: child,
    cwd,
    logLines,
    waitForLog: (what, predicate, timeoutMs = 20_000) =>
      waitFor(`ingestor log: ${what}`, () => {
        if (child.child.exitCode !== null) throw new GiveUp(`ingestor exited with ${child.child.exitCode}; log: ${child.logPath}`);
        return logLines().find(predicate);
      }, timeoutMs),
    stop: () => child.stop(30_000),
    cleanup: () => rmSync(cwd, { recursive: true, force: true }),
  };
}

/** Resolves once the ingestor has subscribed to every filter it was given. */
export async function waitUntilSubscribed(ingestor: Ingestor, filters: readonly string[]): Promise<void> {
  for (const filter of filters) {
    await ingestor.waitForLog(`subscribed to ${filter}`, (line) => line.msg === 'subscribed' && line.topic === filter);
  }
}

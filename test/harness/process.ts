/**
 * Child processes for tests: started with their output in a log file, stopped
 * by pid (never by name), and killed on harness exit if a test forgot them.
 *
 * Logs go to `.test-artifacts/logs/`; scripts/test.sh deletes that folder
 * after a green run, so logs survive exactly when something failed.
 */
import { AssertionError } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ARTIFACTS_DIR = join(import.meta.dirname, '..', '..', '.test-artifacts', 'logs');

const running = new Set<ChildProcess>();
const killAll = (): void => {
  for (const child of running) child.kill('SIGKILL');
};
process.on('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
  });
}

let sequence = 0;

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  log(): string;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<number | string>;
  kill(): Promise<number | string>;
}

export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ManagedProcess {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  sequence += 1;
  const logPath = join(ARTIFACTS_DIR, `${process.pid}-${sequence}-${name}.log`);
  const logStream = createWriteStream(logPath);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(logStream, { end: false });
  child.stderr?.pipe(logStream, { end: false });
  running.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (error) => {
      logStream.write(`\n[harness] ${name} failed to start: ${error.message}\n`);
      running.delete(child);
      resolve('spawn-error');
    });
    // 'close', not 'exit': only then has all of the child's output been read,
    // and a write callback on the log file fires once everything before it is
    // flushed, so log() after `exited` sees the last line (an exit-2 config
    // error is often the only line).
    child.once('close', (code, signal) => {
      running.delete(child);
      logStream.write('', () => resolve(code ?? signal ?? 'unknown'));
    });
  });
  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };
  return {
    name,
    child,
    logPath,
    exited,
    // The file appears when the stream opens, a moment after spawn.
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
    stop: (graceMs = 10_000) => signalAndWait('SIGTERM', graceMs),
    kill: () => signalAndWait('SIGKILL', 0),
  };
}

/** Thrown from a waitFor() check: stop polling, the awaited thing will never happen. */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns a value other than undefined, or fails with
 * `what`. Return undefined for "not yet". A failed assertion (AssertionError)
 * or GiveUp is a definite wrong answer and fails at once, not at the timeout;
 * any other error (a service not up yet: connection refused) keeps polling.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp || error instanceof AssertionError) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Runs the real notifier as a child process (`node --import tsx notifier/main.ts`)
 * in a temporary working directory (so the repo's .env is not read), with only
 * the environment the test gives it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from './process.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(REPO_ROOT, 'notifier', 'main.ts');
const TSX = import.meta.resolve('tsx');

function isolatedEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'NODE_OPTIONS']) {
    if (process.env[key] !== undefined) base[key] = process.env[key];
  }
  return { ...base, LOG_LEVEL: 'info', ...env };
}

export interface NotifierProcess {
  readonly process: ManagedProcess;
  readonly port: number;
  readonly cwd: string;
  cleanup(): void;
}

/** Starts the notifier and waits until /readyz answers 200. */
export async function startNotifierProcess(env: Record<string, string>, port: number, name = 'notifier'): Promise<NotifierProcess> {
  const cwd = mkdtempSync(join(tmpdir(), 'sensorflow-notifier-'));
  const child = startProcess(name, process.execPath, ['--import', TSX, MAIN], { cwd, env: isolatedEnv({ ...env, NOTIFIER_PORT: String(port) }) });
  await waitFor(`${name} ready on ${port}`, async () => {
    if (child.child.exitCode !== null) throw new Error(`${name} exited ${child.child.exitCode}: ${child.log()}`);
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    return response.status === 200 ? true : undefined;
  });
  return { process: child, port, cwd, cleanup: () => rmSync(cwd, { recursive: true, force: true }) };
}

/**
 * Runs the notifier to completion (e.g. `--test`), returning exit code and
 * output. Asynchronous: the stand-ins it talks to live in the test's own process.
 */
export async function runNotifier(args: readonly string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'sensorflow-notifier-'));
  try {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, env: isolatedEnv(env), stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    return { status, stdout, stderr };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

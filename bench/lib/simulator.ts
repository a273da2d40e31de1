/** The simulator's load mode as a child process (`simulator/main.ts --rate N`). */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const TSX = import.meta.resolve('tsx');
const MAIN = join(import.meta.dirname, '..', '..', 'simulator', 'main.ts');

export interface LoadSummary {
  readonly sent: number;
  readonly acked: number;
  readonly errors: number;
  readonly seconds: number;
  readonly achievedRate: number;
}

export interface LoadRun {
  readonly child: ChildProcess;
  /** Resolves with the simulator's JSON summary when it exits. */
  readonly finished: Promise<LoadSummary>;
}

export function startLoad(url: string, options: { rate: number; durationS: number; devices: number; locations: number }): LoadRun {
  const args = [
    '--import', TSX, MAIN,
    '--url', url,
    '--rate', String(options.rate),
    '--duration', String(options.durationS),
    '--devices', String(options.devices),
    '--locations', String(options.locations),
    '--connections', '4',
    '--churn-per-hour', '0',
    '--quiet',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (output += chunk));
  const finished = new Promise<LoadSummary>((resolve, reject) => {
    child.once('exit', (code) => {
      const summary = output.trim().split('\n').at(-1);
      if (code !== 0 || summary === undefined) reject(new Error(`the simulator exited with ${code}: ${output}`));
      else resolve(JSON.parse(summary) as LoadSummary);
    });
  });
  return { child, finished };
}

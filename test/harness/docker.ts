/**
 * A Docker daemon of the tests' own: Debian's dockerd started as root on a
 * socket of its own (vfs storage, no iptables, no default bridge: containers
 * run on user-defined bridge networks or the host's), with a data root kept
 * between runs (/var/cache/sensorflow-docker, SENSORFLOW_DOCKER_CACHE) so the
 * base image and the build cache survive; a new machine builds them from
 * scratch. Registry images cannot be pulled here: test/docker/base-image.sh
 * makes the stand-in for the Dockerfile's node:24-bookworm-slim.
 *
 * stop() ends the daemon by its pid and unmounts whatever it left; the
 * caller removes its containers first (compose down) so that nothing comes
 * back with `restart: unless-stopped` on the next start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GiveUp, waitFor } from './process.ts';

const ROOT = join(import.meta.dirname, '..', '..');
export const CACHE_DIR = process.env.SENSORFLOW_DOCKER_CACHE ?? '/var/cache/sensorflow-docker';
/** Debian's CLI, of the daemon's version (a newer one may be first on the PATH). */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Docker {
  /** unix://…/dockerd.sock */
  readonly host: string;
  /** The CLI (Debian's), against this daemon; rejects on a non-zero exit unless `allowFailure`. */
  docker(args: readonly string[], options?: RunOptions): Promise<Run>;
  /** docker-compose (1.29, or the v2 plugin when installed), against this daemon, from the repository. */
  compose(args: readonly string[], options?: RunOptions): Promise<Run>;
  stop(): Promise<void>;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
  /** Passed to the process's stdin. */
  readonly input?: string;
}

/** The binary's path on the PATH or in the sbin folders (root's tools), if installed. */
export function onPath(binary: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SBIN];
  for (const dir of dirs) {
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Why Docker cannot run here, or undefined when it can be tried. */
export function dockerUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (dockerd and debootstrap need root)';
  for (const [binary, pkg] of [['dockerd', 'docker.io'], ['debootstrap', 'debootstrap'], ['docker-compose', 'docker-compose']] as const) {
    if (onPath(binary) === undefined) return `${binary} is not installed (Debian package ${pkg})`;
  }
  return undefined;
}

function compose(): string[] {
  // The v2 plugin when this machine has one (Debian bookworm packages only 1.29).
  const plugin = spawnSync(DOCKER_CLI, ['compose', 'version'], { encoding: 'utf8' });
  return plugin.status === 0 ? [DOCKER_CLI, 'compose'] : [onPath('docker-compose') ?? 'docker-compose'];
}

function runCommand(command: string, args: readonly string[], env: NodeJS.ProcessEnv, options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timeoutMs = options.timeoutMs ?? 120_000;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.stdin.end(options.input ?? '');
    child.once('close', (code) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (code !== 0 && options.allowFailure !== true) {
        reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}${code === null ? ` (killed after ${timeoutMs} ms)` : ''}:\n${stderr.slice(-4000)}${stdout.slice(-2000)}`));
      } else {
        resolve(result);
      }
    });
  });
}

/** Mount points under a folder, deepest first (what a killed dockerd may leave). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

export async function startDocker(): Promise<Docker> {
  const dockerd = onPath('dockerd');
  if (dockerd === undefined) throw new Error('dockerd is not installed');
  mkdirSync(join(CACHE_DIR, 'data'), { recursive: true });
  // Sockets and the runtime's state: a short path of its own (socket paths are limited to 107 bytes).
  const runDir = mkdtempSync('/tmp/sfd-');
  const host = `unix://${runDir}/dockerd.sock`;
  const env: NodeJS.ProcessEnv = { PATH: `${process.env.PATH ?? ''}:${SBIN.join(':')}`, HOME: process.env.HOME, DOCKER_HOST: host };
  const logPath = join(runDir, 'dockerd.log');
  const log = openSync(logPath, 'a');
  const child: ChildProcess = spawn(
    dockerd,
    [
      '--storage-driver=vfs', '--iptables=false', '--bridge=none',
      '-H', host, '--data-root', join(CACHE_DIR, 'data'), '--exec-root', join(runDir, 'exec'), '--pidfile', join(runDir, 'dockerd.pid'),
    ],
    { env, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 30_000))]);
      if (killed) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    // A daemon that was killed leaves network namespaces and shm mounts behind.
    for (const point of [...mountsUnder(runDir), ...mountsUnder(join(CACHE_DIR, 'data'))]) spawnSync('umount', ['-l', point]);
    rmSync(runDir, { recursive: true, force: true });
  };
  const docker: Docker['docker'] = (args, options) => runCommand(DOCKER_CLI, args, env, options);
  const composeCommand = compose();
  try {
    await waitFor('dockerd', async () => {
      if (child.exitCode !== null) throw new GiveUp(`dockerd exited ${child.exitCode}: ${readFileSync(logPath, 'utf8').slice(-2000)}`);
      return (await docker(['version', '--format', '{{.Server.Version}}'], { allowFailure: true, timeoutMs: 5_000 })).code === 0 ? true : undefined;
    }, 60_000, 250);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    host,
    docker,
    compose: (args, options) => runCommand(composeCommand[0] as string, [...composeCommand.slice(1), ...args], env, options),
    stop,
  };
}

/** The stand-in base image (skipped when it exists), then the project's image from the Dockerfile as it is. */
export async function buildImages(docker: Docker, tag: string): Promise<void> {
  await runCommand(join(ROOT, 'test', 'docker', 'base-image.sh'), [CACHE_DIR], { PATH: `${process.env.PATH ?? ''}:${SBIN.join(':')}`, HOME: process.env.HOME, DOCKER_HOST: docker.host }, { timeoutMs: 600_000 });
  // --network host: the Dockerfile's apt-get and npm ci need the network, and there is no default bridge.
  await docker.docker(['build', '--network', 'host', '-t', tag, '.'], { timeoutMs: 900_000 });
}

/** The project's image and the InfluxDB stand-in that docker.test.ts runs. */
export const TEST_IMAGES = { project: 'sensorflow:0.1.0', influxStandIn: 'sensorflow-test/influxdb1-standin:latest' } as const;

/**
 * Every image docker.test.ts runs: the base stand-in, the project's image,
 * the InfluxDB stand-in; then old builds' layers are pruned (vfs keeps a full
 * copy of each). scripts/test.sh runs it once before the tests
 * (test/docker/prepare.ts): on a new machine the cold build takes minutes,
 * and inside the test file it would eat the file's 10-minute budget.
 */
export async function buildTestImages(docker: Docker): Promise<void> {
  await buildImages(docker, TEST_IMAGES.project);
  const influxd = onPath('influxd');
  if (influxd === undefined) throw new Error('influxd (Debian package influxdb) is not installed: the InfluxDB stand-in image copies it');
  await buildStandIn(docker, TEST_IMAGES.influxStandIn, 'influxdb-standin.Dockerfile', { influxd });
  await docker.docker(['image', 'prune', '--force']);
}

/** A small image from a Dockerfile under test/docker/ with files of this machine in its context. */
export async function buildStandIn(docker: Docker, tag: string, dockerfile: string, files: Readonly<Record<string, string>>): Promise<void> {
  const context = mkdtempSync(join(CACHE_DIR, 'context-'));
  try {
    for (const [name, source] of Object.entries(files)) copyFileSync(source, join(context, name));
    await docker.docker(['build', '--network', 'host', '-f', join(ROOT, 'test', 'docker', dockerfile), '-t', tag, context], { timeoutMs: 300_000 });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}


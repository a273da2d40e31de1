/**
 * Every program, spawned for real (source through tsx, and built by tsc as
 * the image runs it): `--help` prints its usage and names every variable of
 * its settings tables, exits 0 and starts nothing (no connection reaches the
 * broker / InfluxDB it is pointed at, no folder or file it would make
 * appears); `--version` prints the package version; an unknown flag exits 2
 * with one line naming it; the flags a program takes are still taken.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { variableNames, type Schema } from '../../common/config/schema.ts';
import { COMMON_SCHEMA } from '../../common/settings.ts';
import { BROKER_SCHEMA } from '../../broker/dev/settings.ts';
import { EMQX_USERS_SCHEMA } from '../../broker/emqx/settings.ts';
import { SETUP_SCHEMA } from '../../influxdb/settings.ts';
import { INGESTOR_SCHEMA } from '../../ingestor/settings.ts';
import { NOTIFIER_SCHEMA } from '../../notifier/settings.ts';
import { SIMULATOR_SCHEMA } from '../../simulator/settings.ts';
import { STACK_SCHEMA } from '../../scripts/stack/settings.ts';
import { freePort } from '../harness/ports.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Program {
  readonly name: string;
  /** The entry point under the repository (source) and under the build's output folder (built; absent: not built). */
  readonly source: string;
  readonly built?: string;
  readonly schemas: readonly Schema[];
}

const PROGRAMS: readonly Program[] = [
  { name: 'ingestor', source: 'ingestor/main.ts', built: 'ingestor/main.js', schemas: [INGESTOR_SCHEMA, COMMON_SCHEMA] },
  { name: 'notifier', source: 'notifier/main.ts', built: 'notifier/main.js', schemas: [NOTIFIER_SCHEMA, COMMON_SCHEMA] },
  { name: 'simulator', source: 'simulator/main.ts', built: 'simulator/main.js', schemas: [SIMULATOR_SCHEMA, COMMON_SCHEMA] },
  { name: 'setup', source: 'influxdb/setup.ts', built: 'influxdb/setup.js', schemas: [SETUP_SCHEMA, COMMON_SCHEMA] },
  { name: 'dev broker', source: 'broker/dev/main.ts', built: 'broker/dev/main.js', schemas: [BROKER_SCHEMA] },
  { name: 'emqx-users', source: 'broker/emqx/bootstrap.ts', built: 'broker/emqx/bootstrap.js', schemas: [EMQX_USERS_SCHEMA, COMMON_SCHEMA] },
  { name: 'stack', source: 'scripts/stack.ts', schemas: [STACK_SCHEMA] },
];

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end (bounded: a service that started would never end, and fails here). */
function runProgram(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} still running after 30 s (it started instead of answering); stderr: ${stderr}`));
    }, 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let work: string;
let builtDir: string;
/** Where every program's broker, InfluxDB and HTTP peers point: it counts who connects. */
let sentinel: Server;
let sentinelPort: number;
let connections = 0;
/** The environment every run gets: peers at the sentinel, state in folders that must not appear. */
let env: NodeJS.ProcessEnv;
const stateDirs = (): string[] => ['wal', 'queue', 'tokens', 'stack', 'emqx'].map((name) => join(work, name));

before(async () => {
  mkdirSync(join(ROOT, '.test-artifacts'), { recursive: true });
  work = mkdtempSync(join(ROOT, '.test-artifacts', 'cli-'));
  builtDir = join(work, 'dist');
  sentinel = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => sentinel.listen(0, '127.0.0.1', resolve));
  sentinelPort = (sentinel.address() as { port: number }).port;
  const sentinelHttp = `http://127.0.0.1:${sentinelPort}`;
  const listenPort = String(await freePort());
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'info',
    MQTT_URL: `mqtt://127.0.0.1:${sentinelPort}`,
    INFLUX_URL: sentinelHttp,
    INFLUX_API: 'v1',
    WAL_DIR: join(work, 'wal'),
    HTTP_PORT: listenPort,
    NOTIFIER_PORT: listenPort,
    NOTIFIER_QUEUE_DIR: join(work, 'queue'),
    SETUP_TOKEN_DIR: join(work, 'tokens'),
    BROKER_PORT: listenPort,
    STACK_DIR: join(work, 'stack'),
    EMQX_BOOTSTRAP_FILE: join(work, 'emqx', 'users.json'),
    MQTT_MONITOR_PASSWORD: 'm',
    MQTT_GATEWAY_PASSWORD: 'g',
    NOTIFIER_TOKEN: 'cli-test-token-of-enough-length',
  };
  // The built form, as the image runs it (Dockerfile: npm run build → dist/). Inside the
  // repository, so that node_modules and package.json are found above it as in /app.
  await new Promise<void>((resolve, reject) => {
    const tsc = spawn(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', builtDir], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    tsc.once('error', reject);
    tsc.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`tsc exited ${String(code)}`))));
  });
});

after(async () => {
  await new Promise<void>((resolve) => sentinel.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

const forms = (program: Program): [string, string[]][] => [
  ['source', ['--import', 'tsx', join(ROOT, program.source)]],
  ...(program.built === undefined ? [] : [['built', [join(builtDir, program.built)]] as [string, string[]]]),
];

for (const program of PROGRAMS) {
  describe(program.name, () => {
    for (const [form, entry] of forms(program)) {
      test(`${form}: --help prints the usage and every variable, exits 0, starts nothing`, async () => {
        const before = connections;
        const result = await runProgram([...entry, '--help'], env, work);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stderr, '');
        assert.match(result.stdout, /^Usage: /);
        assert.match(result.stdout, /^ {2}--version +the version$/m);
        for (const schema of program.schemas) {
          for (const name of variableNames(schema)) assert.match(result.stdout, new RegExp(`^ {2}(\\S+ \\(or )?${name}\\b`, 'm'), `${program.name} --help names ${name}`);
        }
        // Give a connection that was made time to be accepted: the sentinel then counts it.
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(connections, before, 'nothing connected to the broker / InfluxDB it was pointed at');
        for (const dir of stateDirs()) assert.equal(existsSync(dir), false, `${dir} was not made`);
      });

      test(`${form}: --version prints the package version`, async () => {
        const result = await runProgram([...entry, '--version'], env, work);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `sensorflow ${program.name} ${VERSION}\n`);
      });

      test(`${form}: an unknown flag exits 2 with one line naming it`, async () => {
        const result = await runProgram([...entry, '--bogus'], env, work);
        assert.equal(result.code, 2);
        assert.equal(result.stdout, '');
        assert.equal(result.stderr, `${program.name}: unknown flag --bogus; --help lists the flags and variables\n`);
      });
    }
  });
}

describe('the flags programs take are still taken', () => {
  test('notifier --test: reaches the bots check (none configured), not the flag check', async () => {
    const result = await runProgram(['--import', 'tsx', join(ROOT, 'notifier/main.ts'), '--test'], env, work);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^sensorflow-notifier: invalid configuration: no bot configured/);
  });

  test('simulator --devices: its value is checked as the simulator\'s own', async () => {
    const result = await runProgram(['--import', 'tsx', join(ROOT, 'simulator/main.ts'), '--devices', 'many'], env, work);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^simulator: --devices "many": expected /);
    assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, 'one line');
  });
});

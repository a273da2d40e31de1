/**
 * Real services for integration tests, each on free ports in its own
 * temporary directory, removed when stopped: Mosquitto 2, InfluxDB 1.x and
 * VictoriaMetrics. Binaries come from Debian packages (scripts/test.sh
 * installs them).
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening } from './ports.ts';
import { GiveUp, startProcess, waitFor, type ManagedProcess } from './process.ts';

export interface Service {
  /** The current process (a new one after restart()). */
  readonly process: ManagedProcess;
  readonly dir: string;
  readonly port: number;
  stop(): Promise<void>;
  /** Stops the process (SIGTERM) and starts it again on the same port and directory. */
  restart(downMs?: number): Promise<void>;
  /** Stops the process (SIGTERM), keeping its directory, until start() is called. */
  pause(): Promise<void>;
  start(): Promise<void>;
}

async function startService(
  name: string,
  command: string,
  argsFor: (dir: string, port: number) => { args: string[]; files?: Record<string, string> },
  ready: (port: number) => Promise<boolean>,
  options: { dir?: string; port?: number; env?: (port: number) => NodeJS.ProcessEnv } = {},
): Promise<Service> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `sensorflow-${name}-`));
  const port = options.port ?? (await freePort());
  const { args, files = {} } = argsFor(dir, port);
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  const launch = async (): Promise<ManagedProcess> => {
    const child = startProcess(name, command, args, { cwd: dir, ...(options.env && { env: options.env(port) }) });
    try {
      await waitFor(`${name} on port ${port}`, async () => {
        if (child.child.exitCode !== null) throw new GiveUp(`${name} exited: see ${child.logPath}`);
        return (await ready(port)) ? true : undefined;
      }, 30_000);
    } catch (error) {
      await child.kill();
      throw error;
    }
    return child;
  };
  let current: ManagedProcess | undefined = await launch();
  const service: Service = {
    get process() {
      if (current === undefined) throw new Error(`${name} is paused`);
      return current;
    },
    dir,
    port,
    async stop() {
      await current?.stop();
      current = undefined;
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
    async pause() {
      await current?.stop();
      current = undefined;
    },
    async start() {
      current ??= await launch();
    },
    async restart(downMs = 0) {
      await service.pause();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await service.start();
    },
  };
  return service;
}

/** True when the URL answers this status (over https without verifying: see harnessRequest). */
const httpOk = async (url: string, expected: number): Promise<boolean> => {
  try {
    return (await harnessRequest(url)).status === expected;
  } catch {
    return false;
  }
};

// ---------------------------------------------------------------- Mosquitto

export interface MosquittoOptions {
  /** Extra mosquitto.conf lines (listener, auth, persistence are set here). */
  readonly extraConfig?: readonly string[];
  readonly persistence?: boolean;
  /** Restart on the same port and directory (persistence survives). */
  readonly dir?: string;
  readonly port?: number;
}

export interface Mosquitto extends Service {
  readonly url: string;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const service = await startService(
    'mosquitto',
    'mosquitto',
    (dir, port) => ({
      args: ['-c', join(dir, 'mosquitto.conf')],
      files: {
        'mosquitto.conf': [
          // As root, Mosquitto drops to the `mosquitto` user unless told
          // otherwise, and then cannot read its private temp directory.
          ...(process.getuid?.() === 0 ? ['user root'] : []),
          `listener ${port} 127.0.0.1`,
          'allow_anonymous true',
          `persistence ${options.persistence ? 'true' : 'false'}`,
          `persistence_location ${dir}/`,
          // Unlimited queue for persistent sessions: tests count every message.
          'max_queued_messages 0',
          'log_dest stdout',
          'log_type error',
          'log_type warning',
          'log_type notice',
          ...(options.extraConfig ?? []),
          '',
        ].join('\n'),
      },
    }),
    isListening,
    options,
  );
  return Object.assign(service, { url: `mqtt://127.0.0.1:${service.port}` });
}

// ------------------------------------------------------------- InfluxDB 1.x

export interface InfluxRow {
  readonly [column: string]: string | number | boolean | null;
}

export interface Influx1 extends Service {
  readonly url: string;
  /** Runs InfluxQL (as `user` when auth is on); returns the rows of the first series of each statement, flattened. */
  query(influxql: string, db?: string, user?: { readonly username: string; readonly password: string }): Promise<InfluxRow[]>;
}

export interface Influx1Options {
  readonly port?: number;
  /** Turns on InfluxDB's authentication: create an admin user first (bootstrapInfluxAdmin in test/harness/auth.ts). */
  readonly auth?: boolean;
  /**
   * Serve https with this certificate (`[http] https-enabled`). The files are
   * copied into the service's directory as `tls.crt` / `tls.key` (see
   * tlsFiles), so a test can put another certificate there and restart().
   */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/**
 * The harness's own requests to a TLS InfluxDB (readiness, queries) do not
 * verify its certificate: the certificate is what the tests vary (expired,
 * another host's), and the harness must still read what was stored. The
 * product's clients always verify.
 */
async function harnessRequest(url: string, init: { method?: string; body?: URLSearchParams; headers?: Record<string, string> } = {}): Promise<{ status: number; text: string }> {
  if (!url.startsWith('https:')) {
    const response = await fetch(url, { method: init.method ?? 'GET', ...(init.body && { body: init.body }), ...(init.headers && { headers: init.headers }) });
    return { status: response.status, text: await response.text() };
  }
  const body = init.body?.toString();
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, {
      method: init.method ?? 'GET',
      rejectUnauthorized: false,
      headers: { ...init.headers, ...(body !== undefined && { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }) },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Where a TLS InfluxDB reads its certificate and key (copy others there, then restart()). */
export const tlsFiles = (influx: Service): { cert: string; key: string } => ({ cert: join(influx.dir, 'tls.crt'), key: join(influx.dir, 'tls.key') });

export async function startInflux1(options: Influx1Options = {}): Promise<Influx1> {
  const rpcPort = await freePort();
  const scheme = options.tls === undefined ? 'http' : 'https';
  const service = await startService(
    'influxd',
    'influxd',
    (dir, port) => {
      if (options.tls !== undefined) {
        copyFileSync(options.tls.cert, join(dir, 'tls.crt'));
        copyFileSync(options.tls.key, join(dir, 'tls.key'));
      }
      return {
        args: ['-config', join(dir, 'influxdb.conf')],
        files: {
          'influxdb.conf': [
            'reporting-disabled = true',
            `bind-address = "127.0.0.1:${rpcPort}"`,
            '[meta]',
            `  dir = "${dir}/meta"`,
            '[data]',
            `  dir = "${dir}/data"`,
            `  wal-dir = "${dir}/wal"`,
            '  query-log-enabled = false',
            '[http]',
            `  bind-address = "127.0.0.1:${port}"`,
            '  log-enabled = false',
            ...(options.auth ? ['  auth-enabled = true'] : []),
            ...(options.tls === undefined ? [] : ['  https-enabled = true', `  https-certificate = "${dir}/tls.crt"`, `  https-private-key = "${dir}/tls.key"`]),
            '',
          ].join('\n'),
        },
      };
    },
    (port) => httpOk(`${scheme}://127.0.0.1:${port}/ping`, 204),
    options,
  );
  const url = `${scheme}://127.0.0.1:${service.port}`;
  const query: Influx1['query'] = async (influxql, db, user) => {
    const params = new URLSearchParams({ q: influxql, epoch: 'ms', ...(db !== undefined && { db }) });
    const headers = user && { authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` };
    const response = await harnessRequest(`${url}/query`, { method: 'POST', body: params, ...(headers && { headers }) });
    const body = JSON.parse(response.text) as {
      results?: { error?: string; series?: { columns: string[]; values: unknown[][]; tags?: Record<string, string> }[] }[];
      error?: string;
    };
    if (response.status !== 200 || body.error) throw new Error(`InfluxQL ${influxql}: ${body.error ?? response.status}`);
    const rows: InfluxRow[] = [];
    for (const result of body.results ?? []) {
      if (result.error) throw new Error(`InfluxQL ${influxql}: ${result.error}`);
      for (const series of result.series ?? []) {
        for (const values of series.values) {
          rows.push({ ...series.tags, ...Object.fromEntries(series.columns.map((column, i) => [column, values[i] as InfluxRow[string]])) });
        }
      }
    }
    return rows;
  };
  return Object.assign(service, { url, query });
}

// ---------------------------------------------------------- VictoriaMetrics

export interface VmSeries {
  readonly metric: Readonly<Record<string, string>>;
  readonly values: readonly number[];
  readonly timestamps: readonly number[];
}

export interface Victoria extends Service {
  readonly url: string;
  /** Raw samples of every series matching the selector, via /api/v1/export. */
  exportSeries(selector: string): Promise<VmSeries[]>;
}

/** `tls`: serve https (`-tls`) with this certificate, as InfluxDB's v2 write API over TLS. */
export async function startVictoria(options: { readonly tls?: { readonly cert: string; readonly key: string } } = {}): Promise<Victoria> {
  const scheme = options.tls === undefined ? 'http' : 'https';
  const service = await startService(
    'victoria-metrics',
    'victoria-metrics',
    (dir, port) => ({
      args: [
        `-storageDataPath=${dir}/data`,
        `-httpListenAddr=127.0.0.1:${port}`,
        // InfluxDB's overwrite semantics: a repeated point replaces itself.
        '-dedup.minScrapeInterval=1ms',
        '-retentionPeriod=100y',
        '-loggerLevel=WARN',
        ...(options.tls === undefined ? [] : ['-tls', `-tlsCertFile=${options.tls.cert}`, `-tlsKeyFile=${options.tls.key}`]),
      ],
    }),
    (port) => httpOk(`${scheme}://127.0.0.1:${port}/health`, 200),
  );
  const url = `${scheme}://127.0.0.1:${service.port}`;
  const exportSeries = async (selector: string): Promise<VmSeries[]> => {
    const response = await harnessRequest(`${url}/api/v1/export`, { method: 'POST', body: new URLSearchParams({ 'match[]': selector }) });
    if (response.status !== 200) throw new Error(`export ${selector}: HTTP ${response.status}: ${response.text}`);
    return response.text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as VmSeries);
  };
  return Object.assign(service, { url, exportSeries });
}

// ------------------------------------------------- the development broker

export interface DevBroker extends Service {
  readonly url: string;
  readonly node: string;
}

export const DEV_BROKER_MONITOR = { username: 'monitor', password: 'monitor-test-password' } as const;
/** Publishes for any device, one connection per device (as the simulator does). */
export const DEV_BROKER_GATEWAY = { username: 'gateway', password: 'gateway-test-password' } as const;

export interface DevBrokerUser {
  readonly username: string;
  readonly password: string;
  readonly role: 'monitor' | 'device' | 'gateway' | 'commander';
}

/** `npm run broker` (aedes with EMQX presence events), with a monitor user, a gateway user and `users`. */
export async function startDevBroker(users: readonly DevBrokerUser[] = [], options: { readonly logLevel?: string } = {}): Promise<DevBroker> {
  const node = 'sensorflow-test@127.0.0.1';
  const main = join(import.meta.dirname, '..', '..', 'broker', 'dev', 'main.ts');
  const all: DevBrokerUser[] = [{ ...DEV_BROKER_MONITOR, role: 'monitor' }, { ...DEV_BROKER_GATEWAY, role: 'gateway' }, ...users];
  const service = await startService(
    'dev-broker',
    process.execPath,
    () => ({
      args: ['--import', import.meta.resolve('tsx'), main],
      files: {
        'users.yaml': ['users:', ...all.map((user) => `  - ${JSON.stringify(user)}`), ''].join('\n'),
      },
    }),
    isListening,
    { env: (port) => ({ ...process.env, BROKER_PORT: String(port), BROKER_NODE: node, BROKER_USERS_FILE: 'users.yaml', LOG_LEVEL: options.logLevel ?? 'info' }) },
  );
  return Object.assign(service, { url: `mqtt://127.0.0.1:${service.port}`, node });
}

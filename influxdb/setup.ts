/**
 * `npm run setup` (compose: the one-shot `setup` service, before the ingestor
 * and Grafana start). Idempotent: run it as often as you like; it prints, one
 * line per item, what it found, created or changed.
 *
 *   INFLUX_API=v2 (default): organization, bucket and retention, a write-only
 *     token for the ingestor and a read-only token for Grafana (both scoped to
 *     the bucket, written to SETUP_TOKEN_DIR), the InfluxQL (DBRP) mapping.
 *     Needs the operator token INFLUX_ADMIN_TOKEN (or INFLUX_ADMIN_TOKEN_FILE).
 *   INFLUX_API=v1: the database and its retention (what InfluxDB 1.x has).
 *
 * Exit codes: 0 done; 1 InfluxDB unreachable or refused a step; 2 bad
 * configuration (one line naming the variable).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpError, InfluxDB } from '@influxdata/influxdb-client';
import { config as loadDotenv } from 'dotenv';
import { readCaFile } from '../common/config/certificates.ts';
import { requestText } from '../common/http-client.ts';
import { commandLine } from '../common/cli.ts';
import { refuseDevelopmentSecrets } from '../common/production.ts';
import { COMMON_SCHEMA } from '../common/settings.ts';
import { tlsErrorLine } from '../common/tls-error.ts';
import { influxCaNeedsHttps } from '../ingestor/config.ts';
import { INFLUX_TLS_PEER, influxClientOptions } from '../ingestor/writer/influx-http.ts';
import { ConfigError, read } from '../common/config/schema.ts';
import { SETUP, SETUP_REFUSES, SETUP_SCHEMA } from './settings.ts';
import { setupV1 } from './setup-v1.ts';
import { setupV2, type Step, type TokenGrant } from './setup-v2.ts';
import { setupV3, V3SetupError } from './setup-v3.ts';
import { V3_DATABASE_NAME_RULE, v3DatabaseNameProblem } from '../ingestor/writer/influxdb3-rules.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface SetupConfig {
  readonly api: 'v1' | 'v2' | 'v3';
  readonly url: string;
  readonly org: string;
  readonly bucket: string;
  readonly retentionSeconds: number;
  readonly adminToken: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tokenDir: string;
  readonly waitSeconds: number;
  /** INFLUX_CA_FILE's certificates, trusted instead of the system's (as by the ingestor). */
  readonly ca?: Buffer | undefined;
}

export class SetupConfigError extends Error {
  override readonly name = 'SetupConfigError';
}

/** The files Grafana and the ingestor read (compose mounts SETUP_TOKEN_DIR into both). */
export const TOKEN_FILES: Readonly<Record<TokenGrant['user'], string>> = {
  ingestor: 'ingestor-write.token',
  grafana: 'grafana-read.token',
};

/** Throws SetupConfigError naming the variable, the value (never a secret's) and what is expected. */
export function loadSetupConfig(env: Env, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): SetupConfig {
  const readBuffer = (path: string): Buffer => Buffer.from(readFile(path));
  try {
    const api = read(env, SETUP.INFLUX_API);
    const adminToken = read(env, SETUP.INFLUX_ADMIN_TOKEN, readBuffer);
    const url = read(env, SETUP.INFLUX_URL);
    const caPath = read(env, SETUP.INFLUX_CA_FILE);
    const caProblem = influxCaNeedsHttps(url, caPath);
    if (caProblem !== undefined) throw caProblem;
    const config: SetupConfig = {
      api,
      url,
      org: read(env, SETUP.INFLUX_ORG),
      bucket: read(env, SETUP.INFLUX_BUCKET),
      retentionSeconds: read(env, SETUP.INFLUX_RETENTION),
      adminToken,
      username: read(env, SETUP.INFLUX_USERNAME),
      password: read(env, SETUP.INFLUX_PASSWORD, readBuffer),
      tokenDir: read(env, SETUP.SETUP_TOKEN_DIR),
      waitSeconds: read(env, SETUP.SETUP_WAIT_S),
      ca: caPath === undefined ? undefined : readCaFile(SETUP.INFLUX_CA_FILE.name, caPath, readBuffer),
    };
    if (api === 'v2' && adminToken === undefined) {
      throw new ConfigError('INFLUX_ADMIN_TOKEN', undefined, 'expected the InfluxDB 2 operator token (DOCKER_INFLUXDB_INIT_ADMIN_TOKEN in compose), or INFLUX_ADMIN_TOKEN_FILE');
    }
    if (api === 'v3') {
      if (adminToken === undefined) throw new ConfigError('INFLUX_ADMIN_TOKEN', undefined, 'expected an InfluxDB 3 admin token (influxdb3 create token --admin), or INFLUX_ADMIN_TOKEN_FILE');
      const problem = v3DatabaseNameProblem(config.bucket);
      if (problem !== undefined) throw new ConfigError('INFLUX_BUCKET', config.bucket, `expected ${V3_DATABASE_NAME_RULE} (InfluxDB 3 says: ${problem})`);
    }
    return config;
  } catch (error) {
    if (error instanceof ConfigError) throw new SetupConfigError(error.message);
    throw error;
  }
}

/**
 * Writes a token file atomically. Mode 0644: Grafana's container user (472)
 * and the ingestor's (node, 1000) must both read their file; the directory
 * is a volume mounted only into setup, the ingestor and Grafana.
 */
export function writeTokenFile(dir: string, name: string, token: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, token, { mode: 0o644 });
  renameSync(temporary, path);
  return path;
}

/**
 * Waits until InfluxDB answers /ping (both versions have it), up to
 * waitSeconds. A TLS problem ends the wait at once: it will not go away by
 * waiting, and its explanation is what the user needs.
 */
async function waitForInflux(url: string, waitSeconds: number, ca: Buffer | undefined, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    try {
      // InfluxDB 3 asks for a token on /ping unless started with --disable-authz ping (http.rs l. 2713–2722, v3.10.1).
      const reply = await requestText(new URL('/ping', url), { timeoutMs: 2000, headers, ...(ca !== undefined && { ca }) });
      if (reply.status === 204 || (reply.status >= 200 && reply.status < 300)) return;
    } catch (error) {
      if (tlsErrorLine(error, INFLUX_TLS_PEER) !== undefined) throw error;
      // not up yet
    }
    if (Date.now() >= deadline) throw new Error(`InfluxDB at ${url} did not answer /ping within SETUP_WAIT_S=${waitSeconds}s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export function describeStep(step: Step): string {
  return `setup: ${step.what}: ${step.outcome} (${step.detail})`;
}

export async function runSetup(config: SetupConfig, print: (line: string) => void): Promise<void> {
  await waitForInflux(config.url, config.waitSeconds, config.ca, config.api === 'v3' ? { authorization: `Bearer ${config.adminToken ?? ''}` } : {});
  if (config.api === 'v3') {
    const steps = await setupV3({ url: config.url, database: config.bucket, retentionSeconds: config.retentionSeconds, adminToken: config.adminToken ?? '', ca: config.ca });
    for (const step of steps) print(describeStep(step));
    // Core has admin tokens only: what the ingestor and Grafana get is the admin token itself.
    for (const user of ['ingestor', 'grafana'] as const) {
      const path = writeTokenFile(config.tokenDir, TOKEN_FILES[user], config.adminToken ?? '');
      print(`setup: ${user} token written to ${path} (the admin token: InfluxDB 3 Core has no scoped tokens; Enterprise's database-scoped tokens: docs/security.md#influxdb-3-tokens)`);
    }
    return;
  }
  if (config.api === 'v1') {
    const steps = await setupV1({ url: config.url, database: config.bucket, retentionSeconds: config.retentionSeconds, username: config.username, password: config.password, ca: config.ca });
    for (const step of steps) print(describeStep(step));
    return;
  }
  const influx = new InfluxDB({ ...influxClientOptions({ url: config.url, timeoutMs: 10_000, ca: config.ca }), token: config.adminToken });
  const result = await setupV2(influx, { org: config.org, bucket: config.bucket, retentionSeconds: config.retentionSeconds });
  for (const step of result.steps) print(describeStep(step));
  for (const grant of result.tokens) {
    const path = writeTokenFile(config.tokenDir, TOKEN_FILES[grant.user], grant.token);
    print(`setup: ${grant.user} token written to ${path}`);
  }
}

/** What went wrong, in one line that says what to check. */
export function explainFailure(error: unknown, config: SetupConfig): string {
  if (error instanceof V3SetupError) return error.message;
  if (error instanceof HttpError) {
    if (error.statusCode === 401) return `InfluxDB refused INFLUX_ADMIN_TOKEN (401): it must be the operator token InfluxDB was set up with (DOCKER_INFLUXDB_INIT_ADMIN_TOKEN)`;
    if (error.statusCode === 403) return `INFLUX_ADMIN_TOKEN lacks a permission (403): use the operator token, not a scoped one (${error.message})`;
    return `InfluxDB answered ${error.statusCode}: ${error.body ?? error.message}`;
  }
  const tls = tlsErrorLine(error, INFLUX_TLS_PEER);
  if (tls !== undefined) return `${tls} (INFLUX_URL=${config.url})`;
  return `${(error as Error).message} (INFLUX_URL=${config.url})`;
}

async function main(): Promise<void> {
  // --help, --version and unknown flags first: nothing is read or connected before.
  commandLine({
    name: 'setup',
    usage: `Usage: npm run setup   (built: node dist/influxdb/setup.js; compose: the one-shot setup service)

Prepares InfluxDB for sensorflow, idempotently, one line per item: with
INFLUX_API=v2 the organization, the bucket and its retention, a write-only
token for the ingestor and a read-only one for Grafana (in SETUP_TOKEN_DIR)
and the InfluxQL mapping; with INFLUX_API=v1 the database and its retention.
A .env file in the working directory fills in what the environment leaves
unset. Exit codes: 0 done, 1 InfluxDB unreachable or refused a step, 2 bad
configuration.

Flags
`,
    schemas: [SETUP_SCHEMA, COMMON_SCHEMA],
  });
  loadDotenv({ quiet: true });
  refuseDevelopmentSecrets(process.env, SETUP_REFUSES, 'setup');
  let config: SetupConfig;
  try {
    config = loadSetupConfig(process.env);
  } catch (error) {
    if (!(error instanceof SetupConfigError)) throw error;
    process.stderr.write(`setup: invalid configuration: ${error.message}\n`);
    process.exit(2);
  }
  try {
    await runSetup(config, (line) => process.stdout.write(`${line}\n`));
  } catch (error) {
    process.stderr.write(`setup: failed: ${explainFailure(error, config)}\n`);
    process.exit(1);
  }
}

// Run only as the entry point, so tests can import the pieces.
if (process.argv[1] !== undefined && /[\\/]influxdb[\\/]setup\.[jt]s$/.test(process.argv[1])) await main();

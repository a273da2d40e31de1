/**
 * Configuration from the environment, validated in one pass at start-up with
 * no network calls. A bad value throws ConfigError naming the variable, the
 * value and what is expected; main.ts prints it as one line and exits 2.
 *
 * Secrets (MQTT_PASSWORD, INFLUX_TOKEN, INFLUX_PASSWORD) may come as NAME_FILE,
 * a path, as Docker secrets do. Their values are never echoed in errors or logs.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './decoders/payload.ts';
import { STATUS_TOPIC_FILTER } from './decoders/presence-status.ts';
import { SPARKPLUG_FILTER } from './decoders/sparkplug.ts';
import { DEFAULT_MAX_FUTURE_MS } from './decoders/timestamp.ts';
import type { Route } from './routes/route.ts';
import { routeFilters } from './routes/router.ts';
import { DEFAULT_ROUTES_YAML, parseRoutes, RoutesError } from './routes/routes-file.ts';
import { parseRegistry, RegistryError, type Registry } from './directory/registry.ts';
import { defaultSegmentBytes } from './wal/wal.ts';

export type Env = Readonly<Record<string, string | undefined>>;
export type ReadFile = (path: string) => Buffer;

export type InfluxApi = 'v1' | 'v2' | 'v3';
export type QoS = 0 | 1 | 2;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface MqttConfig {
  readonly url: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly clientId: string;
  /** True when MQTT_CLIENT_ID is set: the broker keeps our subscriptions and unacknowledged messages. */
  readonly persistentSession: boolean;
  readonly topics: readonly string[];
  readonly qos: QoS;
  readonly protocolVersion: 4 | 5;
  readonly sessionExpirySeconds: number;
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
}

export interface InfluxConfig {
  readonly url: string;
  readonly api: InfluxApi;
  readonly token: string | undefined;
  readonly org: string;
  readonly bucket: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly timeoutMs: number;
}

export interface PipelineConfig {
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly writeConcurrency: number;
  readonly maxPayloadBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly writeRetryMaxMs: number;
  readonly walDir: string;
  readonly walMaxBytes: number;
  readonly walSyncIntervalMs: number;
  readonly statsIntervalMs: number;
  /** 0: no HTTP server. */
  readonly httpPort: number;
  /** Address the HTTP server listens on: loopback by default; compose sets 0.0.0.0. */
  readonly httpHost: string;
}

export interface RoutingConfig {
  /** From ROUTES_FILE, or the default route for the simulator's layout. */
  readonly routes: readonly Route[];
  readonly routesFile: string | undefined;
  readonly maxFutureMs: number;
  /** Subscribe to `spBv1.0/#` and decode Sparkplug B. */
  readonly sparkplug: boolean;
}

export interface DevicesConfig {
  /** From DEVICES_FILE; empty and not strict when unset. */
  readonly registry: Registry;
  readonly registryFile: string | undefined;
  /** Where learned device locations are kept across restarts. */
  readonly learnedFile: string;
  /** Subscribe to EMQX's `$SYS/brokers/{node}/clients/+/connected|disconnected`. */
  readonly emqxPresence: boolean;
  readonly emqxNode: string;
  /** How long an EMQX presence event of a device with no known location waits for one; 0: never. */
  readonly presenceHoldMs: number;
}

export interface Config {
  readonly mqtt: MqttConfig;
  readonly influx: InfluxConfig;
  readonly pipeline: PipelineConfig;
  readonly devices: DevicesConfig;
  readonly routing: RoutingConfig;
  readonly logLevel: LogLevel;
  /** Settings that are valid but probably not what the user wants: logged once at start-up. */
  readonly warnings: readonly string[];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    /** Undefined for secrets, whose values are never shown. */
    readonly value: string | undefined,
    readonly expected: string,
  ) {
    super(`${variable}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${expected}`);
  }
}

/** Defaults, one place: a `docker compose up` or a bare `npm run ingestor` works with none set. */
export const DEFAULTS = {
  MQTT_URL: 'mqtt://localhost:1883',
  MQTT_QOS: 1,
  MQTT_PROTOCOL_VERSION: 5,
  MQTT_SESSION_EXPIRY_S: 7 * 24 * 3600,
  INFLUX_URL: 'http://localhost:8086',
  INFLUX_API: 'v2',
  INFLUX_ORG: 'sensorflow',
  INFLUX_BUCKET: 'iot',
  INFLUX_TIMEOUT_MS: 10_000,
  BATCH_SIZE: 5000,
  FLUSH_INTERVAL_MS: 1000,
  WRITE_CONCURRENCY: 2,
  WAL_DIR: 'data/wal',
  WAL_MAX_BYTES: 1024 * 1024 * 1024,
  WAL_SYNC_INTERVAL_MS: 1000,
  STATS_INTERVAL_MS: 10_000,
  HTTP_PORT: 8080,
  HTTP_HOST: '127.0.0.1',
  MAX_PAYLOAD_BYTES: DEFAULT_MAX_PAYLOAD_BYTES,
  SHUTDOWN_TIMEOUT_MS: 30_000,
  WRITE_RETRY_MAX_MS: 30_000,
  DEVICE_DIRECTORY_FILE: 'data/devices.json',
  TIMESTAMP_MAX_FUTURE_MS: DEFAULT_MAX_FUTURE_MS,
  PRESENCE_EMQX: 'false',
  SPARKPLUG: 'false',
  PRESENCE_EMQX_NODE: '+',
  PRESENCE_HOLD_MS: 5000,
  LOG_LEVEL: 'info',
} as const;

function text(env: Env, name: keyof typeof DEFAULTS): string {
  const value = env[name];
  return value === undefined || value.trim() === '' ? String(DEFAULTS[name]) : value.trim();
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: keyof typeof DEFAULTS, min: number, max: number): number {
  const raw = text(env, name);
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(name, raw, `expected a whole number from ${min} to ${max}`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: keyof typeof DEFAULTS, allowed: readonly T[]): T {
  const raw = text(env, name);
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, raw, `expected one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function url(env: Env, name: keyof typeof DEFAULTS, protocols: readonly string[]): string {
  const raw = text(env, name);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, raw, `expected a URL such as ${DEFAULTS[name]}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, raw, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(', ')}`);
  }
  return raw;
}

function readNamedFile(readFile: ReadFile, variable: string, path: string): Buffer {
  try {
    return readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(variable, path, `cannot read the file (${code})`);
  }
}

/** NAME, or the contents of the file NAME_FILE points to (trailing newline removed). */
function secret(env: Env, name: string, readFile: ReadFile): string | undefined {
  const direct = optional(env, name);
  const file = optional(env, `${name}_FILE`);
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(`${name}_FILE`, file, `expected either ${name} or ${name}_FILE, not both`);
  }
  if (file === undefined) return direct;
  return readNamedFile(readFile, `${name}_FILE`, file).toString('utf8').replace(/\r?\n$/, '');
}

function file(env: Env, name: string, readFile: ReadFile): Buffer | undefined {
  const path = optional(env, name);
  return path === undefined ? undefined : readNamedFile(readFile, name, path);
}

/** Checks MQTT filter syntax: `+` and `#` only as whole levels, `#` only last. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter === '') return 'is empty';
  const levels = filter.split('/');
  for (const [index, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      return 'uses "#" other than as the whole last level';
    }
    if (level.includes('+') && level !== '+') return 'uses "+" other than as a whole level';
  }
  return undefined;
}

function flag(env: Env, name: keyof typeof DEFAULTS): boolean {
  return ['true', '1'].includes(oneOf(env, name, ['true', 'false', '1', '0']));
}

function emqxNode(env: Env): string {
  const node = text(env, 'PRESENCE_EMQX_NODE');
  if (node !== '+' && /[/+#]/.test(node)) throw new ConfigError('PRESENCE_EMQX_NODE', node, 'expected an EMQX node name such as emqx@10.0.0.1, or + for every node');
  return node;
}

/** The EMQX presence filters for a node ("+" for all). */
export const emqxPresenceTopics = (node: string): string[] => [
  `$SYS/brokers/${node}/clients/+/connected`,
  `$SYS/brokers/${node}/clients/+/disconnected`,
];

/**
 * MQTT_TOPICS, or what the routes need plus the status topic. An empty
 * MQTT_TOPICS (as .env ships it, and compose passes it on) means the default.
 * A value replaces that list as a whole (the user may have an ACL that allows
 * only some topics); SPARKPLUG and PRESENCE_EMQX still add their filters,
 * unless the list already reaches those topics (e.g. `spBv1.0/plant-a/#`, to
 * narrow them). A subscription with no presence source is a start-up warning.
 */
function topics(env: Env, routes: readonly Route[]): string[] {
  const explicit = optional(env, 'MQTT_TOPICS')?.trim() || undefined;
  const raw = explicit ?? [...new Set([...routeFilters(routes), STATUS_TOPIC_FILTER])].join(',');
  const filters = raw.split(',').map((topic) => topic.trim());
  for (const filter of filters) {
    const problem = topicFilterProblem(filter);
    if (problem !== undefined) {
      throw new ConfigError('MQTT_TOPICS', raw, `expected comma-separated MQTT topic filters, but ${JSON.stringify(filter)} ${problem}`);
    }
  }
  const addUnlessReached = (wanted: readonly string[]): void => {
    if (!wanted.some((topic) => filters.some((filter) => filtersOverlap(filter, topic)))) filters.push(...wanted);
  };
  if (flag(env, 'SPARKPLUG')) addUnlessReached([SPARKPLUG_FILTER]);
  if (flag(env, 'PRESENCE_EMQX')) addUnlessReached(emqxPresenceTopics(emqxNode(env)));
  const group = optional(env, 'MQTT_SHARED_GROUP');
  if (group === undefined) return filters;
  if (/[/+#]/.test(group)) {
    throw new ConfigError('MQTT_SHARED_GROUP', group, 'expected a group name without "/", "+" or "#"');
  }
  return filters.map((filter) => `$share/${group}/${filter}`);
}

/** An IP address or host name to listen on; no scheme, port or spaces. */
function httpHost(env: Env): string {
  const host = text(env, 'HTTP_HOST');
  if (!/^[A-Za-z0-9.:_-]+$/.test(host)) throw new ConfigError('HTTP_HOST', host, 'expected an address to listen on, such as 127.0.0.1 or 0.0.0.0');
  return host;
}

function routing(env: Env, readFile: ReadFile): RoutingConfig {
  const routesFile = optional(env, 'ROUTES_FILE');
  let routes: Route[];
  try {
    routes = routesFile === undefined
      ? parseRoutes('(default routes)', DEFAULT_ROUTES_YAML)
      : parseRoutes(routesFile, readNamedFile(readFile, 'ROUTES_FILE', routesFile).toString('utf8'));
  } catch (error) {
    if (error instanceof RoutesError) throw new ConfigError('ROUTES_FILE', routesFile, error.message.replace(`${routesFile}: `, ''));
    throw error;
  }
  return { routes, routesFile, maxFutureMs: integer(env, 'TIMESTAMP_MAX_FUTURE_MS', 0, 10 * 365 * 24 * 3_600_000), sparkplug: flag(env, 'SPARKPLUG') };
}

export function loadConfig(env: Env, readFile: ReadFile = readFileSync): Config {
  const routingConfig = routing(env, readFile);
  const explicitClientId = optional(env, 'MQTT_CLIENT_ID');
  if (explicitClientId !== undefined && explicitClientId.length > 65535) {
    throw new ConfigError('MQTT_CLIENT_ID', `${explicitClientId.slice(0, 20)}…`, 'expected at most 65535 characters');
  }
  const mqtt: MqttConfig = {
    url: url(env, 'MQTT_URL', ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:']),
    username: optional(env, 'MQTT_USERNAME'),
    password: secret(env, 'MQTT_PASSWORD', readFile),
    clientId: explicitClientId ?? `sensorflow-ingestor-${Math.random().toString(16).slice(2, 10)}`,
    persistentSession: explicitClientId !== undefined,
    topics: topics(env, routingConfig.routes),
    qos: integer(env, 'MQTT_QOS', 0, 2) as QoS,
    protocolVersion: Number(oneOf(env, 'MQTT_PROTOCOL_VERSION', ['4', '5'])) as 4 | 5,
    sessionExpirySeconds: integer(env, 'MQTT_SESSION_EXPIRY_S', 1, 0xffffffff),
    ca: file(env, 'MQTT_CA_FILE', readFile),
    cert: file(env, 'MQTT_CERT_FILE', readFile),
    key: file(env, 'MQTT_KEY_FILE', readFile),
  };
  if ((mqtt.cert === undefined) !== (mqtt.key === undefined)) {
    const missing = mqtt.cert === undefined ? 'MQTT_CERT_FILE' : 'MQTT_KEY_FILE';
    throw new ConfigError(missing, undefined, 'expected to be set too: a client certificate needs both MQTT_CERT_FILE and MQTT_KEY_FILE');
  }

  const api = oneOf<InfluxApi>(env, 'INFLUX_API', ['v2', 'v1', 'v3']);
  const influx: InfluxConfig = {
    url: url(env, 'INFLUX_URL', ['http:', 'https:']),
    api,
    token: secret(env, 'INFLUX_TOKEN', readFile),
    org: text(env, 'INFLUX_ORG'),
    bucket: text(env, 'INFLUX_BUCKET'),
    username: optional(env, 'INFLUX_USERNAME'),
    password: secret(env, 'INFLUX_PASSWORD', readFile),
    timeoutMs: integer(env, 'INFLUX_TIMEOUT_MS', 100, 600_000),
  };

  const pipeline: PipelineConfig = {
    batchSize: integer(env, 'BATCH_SIZE', 1, 100_000),
    flushIntervalMs: integer(env, 'FLUSH_INTERVAL_MS', 10, 600_000),
    writeConcurrency: integer(env, 'WRITE_CONCURRENCY', 1, 64),
    maxPayloadBytes: integer(env, 'MAX_PAYLOAD_BYTES', 16, 16 * 1024 * 1024),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 0, 3_600_000),
    writeRetryMaxMs: integer(env, 'WRITE_RETRY_MAX_MS', 100, 3_600_000),
    walDir: text(env, 'WAL_DIR'),
    walMaxBytes: integer(env, 'WAL_MAX_BYTES', 1024 * 1024, Number.MAX_SAFE_INTEGER),
    walSyncIntervalMs: integer(env, 'WAL_SYNC_INTERVAL_MS', 0, 3_600_000),
    statsIntervalMs: integer(env, 'STATS_INTERVAL_MS', 1000, 3_600_000),
    httpPort: integer(env, 'HTTP_PORT', 0, 65535),
    httpHost: httpHost(env),
  };
  // A message must fit in one log segment (an eighth of the log, at least 64 KiB).
  if (pipeline.maxPayloadBytes * 2 > defaultSegmentBytes(pipeline.walMaxBytes)) {
    throw new ConfigError(
      'WAL_MAX_BYTES',
      String(pipeline.walMaxBytes),
      `expected at least 16 × MAX_PAYLOAD_BYTES (${16 * pipeline.maxPayloadBytes}) so that any message fits in a log segment`,
    );
  }

  const registryFile = optional(env, 'DEVICES_FILE');
  let registry: Registry = { strict: false, devices: new Map() };
  if (registryFile !== undefined) {
    const content = readNamedFile(readFile, 'DEVICES_FILE', registryFile).toString('utf8');
    try {
      registry = parseRegistry(registryFile, content);
    } catch (error) {
      if (error instanceof RegistryError) throw new ConfigError('DEVICES_FILE', registryFile, error.message.replace(`${registryFile}: `, ''));
      throw error;
    }
  }
  const devices: DevicesConfig = {
    registry,
    registryFile,
    learnedFile: text(env, 'DEVICE_DIRECTORY_FILE'),
    emqxPresence: flag(env, 'PRESENCE_EMQX'),
    emqxNode: emqxNode(env),
    presenceHoldMs: integer(env, 'PRESENCE_HOLD_MS', 0, 600_000),
  };

  const warnings = [presenceSourceWarning(env, mqtt.topics, devices.emqxPresence)].filter((warning) => warning !== undefined);
  return { mqtt, influx, pipeline, devices, routing: routingConfig, logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS), warnings };
}

/** One topic of each presence source, to test the subscription against. */
const PRESENCE_SAMPLES = [STATUS_TOPIC_FILTER, emqxPresenceTopics('+')[0] as string, 'spBv1.0/+/NDEATH/+'];

/**
 * Whether some topic matches both filters. `+` and `#` match any level, but
 * not a first level starting with `$` (MQTT 4.7.2: `#` does not see `$SYS`).
 */
export function filtersOverlap(a: string, b: string): boolean {
  const left = a.split('/');
  const right = b.split('/');
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const x = left[index];
    const y = right[index];
    const system = index === 0 && (x?.startsWith('$') === true || y?.startsWith('$') === true);
    if (x === '#' || y === '#') return !system || x === y;
    if (x === undefined || y === undefined) return false;
    if (x === '+' || y === '+') {
      if (system && x !== y) return false;
      continue;
    }
    if (x !== y) return false;
  }
  return true;
}

/**
 * Device presence is part of the product: dashboards and alerts read it. A
 * subscription that can receive no presence at all is almost certainly an
 * MQTT_TOPICS written for telemetry only; say so, once, at start-up.
 */
function presenceSourceWarning(env: Env, subscribed: readonly string[], emqxPresence: boolean): string | undefined {
  if (emqxPresence) return undefined;
  const filters = subscribed.map((filter) => filter.replace(/^\$share\/[^/]+\//, ''));
  if (PRESENCE_SAMPLES.some((sample) => filters.some((filter) => filtersOverlap(filter, sample)))) return undefined;
  return `MQTT_TOPICS=${JSON.stringify(optional(env, 'MQTT_TOPICS') ?? '')} subscribes to no device presence source, so device_presence stays empty and offline alerts never fire: `
    + `add ${STATUS_TOPIC_FILTER} (device birth and last will), set PRESENCE_EMQX=true (EMQX), or leave MQTT_TOPICS empty to subscribe to what the routes and presence need`;
}

/** The configuration as it may be logged: secrets reduced to whether they are set. */
export function describeConfig(config: Config): Record<string, unknown> {
  const { mqtt, influx } = config;
  return {
    mqtt: {
      url: redactUrl(mqtt.url),
      username: mqtt.username,
      passwordSet: mqtt.password !== undefined,
      clientId: mqtt.clientId,
      persistentSession: mqtt.persistentSession,
      topics: mqtt.topics,
      qos: mqtt.qos,
      protocolVersion: mqtt.protocolVersion,
      tls: { ca: mqtt.ca !== undefined, clientCertificate: mqtt.cert !== undefined },
    },
    influx: {
      url: redactUrl(influx.url),
      api: influx.api,
      org: influx.org,
      bucket: influx.bucket,
      tokenSet: influx.token !== undefined,
      username: influx.username,
      passwordSet: influx.password !== undefined,
    },
    pipeline: config.pipeline,
    routes: { file: config.routing.routesFile, names: config.routing.routes.map((r) => r.name) },
    devices: {
      registryFile: config.devices.registryFile,
      registeredDevices: config.devices.registry.devices.size,
      strict: config.devices.registry.strict,
      learnedFile: config.devices.learnedFile,
      emqxPresence: config.devices.emqxPresence,
      presenceHoldMs: config.devices.presenceHoldMs,
    },
    logLevel: config.logLevel,
  };
}

/** URLs may carry `user:password@`; keep the user, hide the password. */
export function redactUrl(raw: string): string {
  try {
    const parsed = new URL(raw);
    if (parsed.password === '') return raw;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

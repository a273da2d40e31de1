/**
 * Configuration from the environment, validated in one pass at start-up with
 * no network calls. The variables, their parsers and defaults are one table
 * (settings.ts); this module adds the rules that tie several together. A bad
 * value throws ConfigError naming the variable, the value and what is
 * expected; main.ts prints it as one line and exits 2.
 *
 * Secrets (MQTT_PASSWORD, INFLUX_TOKEN, INFLUX_PASSWORD) may come as NAME_FILE,
 * a path, as Docker secrets do. Their values are never echoed in errors or logs.
 */
import { readFileSync } from 'node:fs';
import { readCaFile } from '../common/config/certificates.ts';
import { ConfigError, describeEnv, isSet, read, readSettingFile, type Env, type ReadFile } from '../common/config/schema.ts';
import { STATUS_TOPIC_FILTER } from './decoders/presence-status.ts';
import { SPARKPLUG_FILTER } from './decoders/sparkplug.ts';
import type { Route } from './routes/route.ts';
import { routeFilters } from './routes/router.ts';
import { DEFAULT_ROUTES_YAML, parseRoutes, RoutesError } from './routes/routes-file.ts';
import { parseRegistry, RegistryError, type Registry } from './directory/registry.ts';
import { INGESTOR, INGESTOR_SCHEMA, LOG_LEVELS, type LogLevel } from './settings.ts';
import { defaultSegmentBytes } from './wal/wal.ts';
import { V3_DATABASE_NAME_RULE, v3DatabaseNameProblem } from './writer/influxdb3-rules.ts';

/**
 * WRITE_CONCURRENCY when INFLUX_API=v3 and it is unset. InfluxDB 3 answers a
 * write only after its write-ahead-log flush (`--wal-flush-interval`, 1 s by
 * default): each write in flight then carries at most BATCH_SIZE lines a
 * second, and 2 × 5,000 would not keep up with 20,000 msg/s. 8 keeps up with
 * room to catch up a backlog (docs/installation.md#influxdb-3 has the figures).
 */
export const V3_WRITE_CONCURRENCY = 8;

export { ConfigError, LOG_LEVELS, type Env, type LogLevel, type ReadFile };

export type InfluxApi = 'v1' | 'v2' | 'v3';
export type QoS = 0 | 1 | 2;

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
  readonly keepaliveSeconds: number;
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
  /** INFLUX_CA_FILE's certificates, trusted instead of the system's; undefined: the system's. */
  readonly ca: Buffer | undefined;
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
  /** Broker users that are never a device (PRESENCE_EMQX_SERVICE_USERS and MQTT_USERNAME). */
  readonly serviceUsers: readonly string[];
  /** Broker users whose clients are a device only when the data says so (PRESENCE_EMQX_GATEWAY_USERS). */
  readonly gatewayUsers: readonly string[];
}

export interface LivenessConfig {
  /** DEVICE_STATE_INTERVAL_S, in ms. */
  readonly intervalMs: number;
  /** DEVICE_STATE_MAX_LAG_S, in ms. */
  readonly maxLagMs: number;
  /** DEVICE_FORGET_AFTER in ms; undefined: off. */
  readonly forgetAfterMs: number | undefined;
  /** DEVICE_TROUBLE_SILENT_AFTER in ms: a device this silent is in `device_trouble`. */
  readonly troubleSilentAfterMs: number;
  /** MQTT_SHARED_GROUP is set: a member writes a device's device_state only with data of the device's own (liveness/ticker.ts). */
  readonly sharedGroup: boolean;
}

export interface RollupsConfig {
  /** ROLLUPS */
  readonly enabled: boolean;
  readonly measurements: readonly string[];
  /** ROLLUP_GRACE_S, in ms. */
  readonly graceMs: number;
  readonly maxBuckets: number;
}

export interface Config {
  readonly mqtt: MqttConfig;
  readonly influx: InfluxConfig;
  readonly pipeline: PipelineConfig;
  readonly devices: DevicesConfig;
  readonly routing: RoutingConfig;
  readonly liveness: LivenessConfig;
  readonly rollups: RollupsConfig;
  readonly logLevel: LogLevel;
  /** Settings that are valid but probably not what the user wants: logged once at start-up. */
  readonly warnings: readonly string[];
}

/** A file a setting names, read whole. */
function file(env: Env, variable: typeof INGESTOR.MQTT_CA_FILE, readFile: ReadFile): Buffer | undefined {
  const path = read(env, variable);
  return path === undefined ? undefined : readSettingFile(variable.name, path, readFile);
}

/** A CA bundle a setting names: at least one PEM certificate, or a ConfigError. */
function caFile(env: Env, variable: typeof INGESTOR.MQTT_CA_FILE, readFile: ReadFile): Buffer | undefined {
  const path = read(env, variable);
  return path === undefined ? undefined : readCaFile(variable.name, path, readFile);
}

/**
 * INFLUX_CA_FILE is only used over TLS: with an http:// INFLUX_URL it would be
 * ignored and the writes (and the token) would travel in clear text, which is
 * not what someone who set a CA meant. Refused at start-up.
 */
export function influxCaNeedsHttps(url: string, caPath: string | undefined): ConfigError | undefined {
  if (caPath === undefined || new URL(url).protocol === 'https:') return undefined;
  return new ConfigError('INFLUX_CA_FILE', caPath, `only used over TLS, but INFLUX_URL=${JSON.stringify(redactUrl(url))} is http://: expected an https:// INFLUX_URL, or unset INFLUX_CA_FILE`);
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

/** The EMQX presence filters for a node ("+" for all). */
export const emqxPresenceTopics = (node: string): string[] => [
  `$SYS/brokers/${node}/clients/+/connected`,
  `$SYS/brokers/${node}/clients/+/disconnected`,
];

/**
 * MQTT_TOPICS, or what the routes need plus the status topic. An empty
 * MQTT_TOPICS (as .env ships it; docker-compose.yml passes .env's value to the
 * ingestor, test/unit/compose-env.test.ts) means the default.
 * A value replaces that list as a whole (the user may have an ACL that allows
 * only some topics); SPARKPLUG and PRESENCE_EMQX still add their filters,
 * unless the list already reaches those topics (e.g. `spBv1.0/plant-a/#`, to
 * narrow them). A subscription with no presence source is a start-up warning.
 */
function topics(env: Env, routes: readonly Route[]): string[] {
  const explicit = read(env, INGESTOR.MQTT_TOPICS);
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
  if (read(env, INGESTOR.SPARKPLUG)) addUnlessReached([SPARKPLUG_FILTER]);
  if (read(env, INGESTOR.PRESENCE_EMQX)) addUnlessReached(emqxPresenceTopics(read(env, INGESTOR.PRESENCE_EMQX_NODE)));
  const group = read(env, INGESTOR.MQTT_SHARED_GROUP);
  if (group === undefined) return filters;
  return sharedSubscriptions(filters, group);
}

/** Sparkplug's presence messages (births and deaths); its data (NDATA, DDATA) is shared. */
export const SPARKPLUG_PRESENCE_FILTERS = ['NBIRTH', 'NDEATH', 'DBIRTH', 'DDEATH'].map((type) => `spBv1.0/+/${type}/#`);
const SPARKPLUG_DATA_FILTERS = ['NDATA', 'DDATA'].map((type) => `spBv1.0/+/${type}/#`);
const EMQX_PRESENCE_FILTER = /^\$SYS\/brokers\/[^/]+\/clients\/\+\/(connected|disconnected)$/;

/**
 * Several ingestors in one MQTT_SHARED_GROUP: telemetry is shared (each
 * message reaches one member), presence is not: every member must judge
 * every device's presence (docs/liveness.md), and presence sources are few.
 * The status topics' filter and EMQX's event filters are subscribed as they
 * are; the default Sparkplug filter is split into its presence messages
 * (births carry metrics too, and the alias tables every member needs to
 * decode data) and its data (shared). Any other filter is shared, so one
 * that also reaches presence topics (`sensors/#`) delivers them to one
 * member only: list `sensors/+/+/status` next to it (a warning says so).
 */
export function sharedSubscriptions(filters: readonly string[], group: string): string[] {
  const subscriptions: string[] = [];
  for (const filter of filters) {
    if (filter === SPARKPLUG_FILTER) {
      subscriptions.push(...SPARKPLUG_PRESENCE_FILTERS, ...SPARKPLUG_DATA_FILTERS.map((data) => `$share/${group}/${data}`));
    } else if (filter === STATUS_TOPIC_FILTER || EMQX_PRESENCE_FILTER.test(filter)) {
      subscriptions.push(filter);
    } else {
      subscriptions.push(`$share/${group}/${filter}`);
    }
  }
  return subscriptions;
}

function routing(env: Env, readFile: ReadFile): RoutingConfig {
  const routesFile = read(env, INGESTOR.ROUTES_FILE);
  let routes: Route[];
  try {
    routes = routesFile === undefined
      ? parseRoutes('(default routes)', DEFAULT_ROUTES_YAML)
      : parseRoutes(routesFile, readSettingFile('ROUTES_FILE', routesFile, readFile).toString('utf8'));
  } catch (error) {
    if (error instanceof RoutesError) throw new ConfigError('ROUTES_FILE', routesFile, error.message.replace(`${routesFile}: `, ''));
    throw error;
  }
  return { routes, routesFile, maxFutureMs: read(env, INGESTOR.TIMESTAMP_MAX_FUTURE_MS), sparkplug: read(env, INGESTOR.SPARKPLUG) };
}

export function loadConfig(env: Env, readFile: ReadFile = readFileSync): Config {
  const routingConfig = routing(env, readFile);
  const explicitClientId = read(env, INGESTOR.MQTT_CLIENT_ID);
  const mqtt: MqttConfig = {
    url: read(env, INGESTOR.MQTT_URL),
    username: read(env, INGESTOR.MQTT_USERNAME),
    password: read(env, INGESTOR.MQTT_PASSWORD, readFile),
    clientId: explicitClientId ?? `sensorflow-ingestor-${Math.random().toString(16).slice(2, 10)}`,
    persistentSession: explicitClientId !== undefined,
    topics: topics(env, routingConfig.routes),
    qos: read(env, INGESTOR.MQTT_QOS),
    protocolVersion: read(env, INGESTOR.MQTT_PROTOCOL_VERSION),
    sessionExpirySeconds: read(env, INGESTOR.MQTT_SESSION_EXPIRY_S),
    keepaliveSeconds: read(env, INGESTOR.MQTT_KEEPALIVE_S),
    ca: caFile(env, INGESTOR.MQTT_CA_FILE, readFile),
    cert: file(env, INGESTOR.MQTT_CERT_FILE, readFile),
    key: file(env, INGESTOR.MQTT_KEY_FILE, readFile),
  };
  if ((mqtt.cert === undefined) !== (mqtt.key === undefined)) {
    const missing = mqtt.cert === undefined ? 'MQTT_CERT_FILE' : 'MQTT_KEY_FILE';
    throw new ConfigError(missing, undefined, 'expected to be set too: a client certificate needs both MQTT_CERT_FILE and MQTT_KEY_FILE');
  }

  const api = read(env, INGESTOR.INFLUX_API);
  const influxUrl = read(env, INGESTOR.INFLUX_URL);
  const influxCaProblem = influxCaNeedsHttps(influxUrl, read(env, INGESTOR.INFLUX_CA_FILE));
  if (influxCaProblem !== undefined) throw influxCaProblem;
  const influx: InfluxConfig = {
    url: influxUrl,
    api,
    token: read(env, INGESTOR.INFLUX_TOKEN, readFile),
    org: read(env, INGESTOR.INFLUX_ORG),
    bucket: read(env, INGESTOR.INFLUX_BUCKET),
    username: read(env, INGESTOR.INFLUX_USERNAME),
    password: read(env, INGESTOR.INFLUX_PASSWORD, readFile),
    timeoutMs: read(env, INGESTOR.INFLUX_TIMEOUT_MS),
    ca: caFile(env, INGESTOR.INFLUX_CA_FILE, readFile),
  };
  if (api === 'v3') {
    const problem = v3DatabaseNameProblem(influx.bucket);
    if (problem !== undefined) throw new ConfigError('INFLUX_BUCKET', influx.bucket, `expected ${V3_DATABASE_NAME_RULE} (InfluxDB 3 says: ${problem})`);
  }

  const pipeline: PipelineConfig = {
    batchSize: read(env, INGESTOR.BATCH_SIZE),
    flushIntervalMs: read(env, INGESTOR.FLUSH_INTERVAL_MS),
    writeConcurrency: api === 'v3' && !isSet(env, INGESTOR.WRITE_CONCURRENCY) ? V3_WRITE_CONCURRENCY : read(env, INGESTOR.WRITE_CONCURRENCY),
    maxPayloadBytes: read(env, INGESTOR.MAX_PAYLOAD_BYTES),
    shutdownTimeoutMs: read(env, INGESTOR.SHUTDOWN_TIMEOUT_MS),
    writeRetryMaxMs: read(env, INGESTOR.WRITE_RETRY_MAX_MS),
    walDir: read(env, INGESTOR.WAL_DIR),
    walMaxBytes: read(env, INGESTOR.WAL_MAX_BYTES),
    walSyncIntervalMs: read(env, INGESTOR.WAL_SYNC_INTERVAL_MS),
    statsIntervalMs: read(env, INGESTOR.STATS_INTERVAL_MS),
    httpPort: read(env, INGESTOR.HTTP_PORT),
    httpHost: read(env, INGESTOR.HTTP_HOST),
  };
  // A message must fit in one log segment (an eighth of the log, at least 64 KiB).
  if (pipeline.maxPayloadBytes * 2 > defaultSegmentBytes(pipeline.walMaxBytes)) {
    throw new ConfigError(
      'WAL_MAX_BYTES',
      String(pipeline.walMaxBytes),
      `expected at least 16 × MAX_PAYLOAD_BYTES (${16 * pipeline.maxPayloadBytes}) so that any message fits in a log segment`,
    );
  }

  const registryFile = read(env, INGESTOR.DEVICES_FILE);
  let registry: Registry = { strict: false, devices: new Map() };
  if (registryFile !== undefined) {
    const content = readSettingFile('DEVICES_FILE', registryFile, readFile).toString('utf8');
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
    learnedFile: read(env, INGESTOR.DEVICE_DIRECTORY_FILE),
    emqxPresence: read(env, INGESTOR.PRESENCE_EMQX),
    emqxNode: read(env, INGESTOR.PRESENCE_EMQX_NODE),
    presenceHoldMs: read(env, INGESTOR.PRESENCE_HOLD_MS),
    serviceUsers: [...new Set([...read(env, INGESTOR.PRESENCE_EMQX_SERVICE_USERS), ...(mqtt.username === undefined ? [] : [mqtt.username])])],
    gatewayUsers: read(env, INGESTOR.PRESENCE_EMQX_GATEWAY_USERS),
  };
  const liveness: LivenessConfig = {
    intervalMs: read(env, INGESTOR.DEVICE_STATE_INTERVAL_S) * 1000,
    maxLagMs: read(env, INGESTOR.DEVICE_STATE_MAX_LAG_S) * 1000,
    forgetAfterMs: read(env, INGESTOR.DEVICE_FORGET_AFTER),
    troubleSilentAfterMs: read(env, INGESTOR.DEVICE_TROUBLE_SILENT_AFTER)!,
    sharedGroup: read(env, INGESTOR.MQTT_SHARED_GROUP) !== undefined,
  };
  const rollups: RollupsConfig = {
    enabled: read(env, INGESTOR.ROLLUPS),
    measurements: read(env, INGESTOR.ROLLUP_MEASUREMENTS),
    graceMs: read(env, INGESTOR.ROLLUP_GRACE_S) * 1000,
    maxBuckets: read(env, INGESTOR.ROLLUP_MAX_BUCKETS),
  };
  const both = devices.gatewayUsers.filter((user) => devices.serviceUsers.includes(user));
  if (both.length > 0) {
    throw new ConfigError('PRESENCE_EMQX_GATEWAY_USERS', devices.gatewayUsers.join(','), `expected no user that is also a service user (PRESENCE_EMQX_SERVICE_USERS or MQTT_USERNAME): ${both.join(', ')}`);
  }

  const warnings = [presenceSourceWarning(env, mqtt.topics, devices.emqxPresence)].filter((warning) => warning !== undefined);
  return { mqtt, influx, pipeline, devices, routing: routingConfig, liveness, rollups, logLevel: read(env, INGESTOR.LOG_LEVEL), warnings };
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
  return `MQTT_TOPICS=${JSON.stringify(env.MQTT_TOPICS ?? '')} subscribes to no device presence source, so device_presence stays empty and offline alerts never fire: `
    + `add ${STATUS_TOPIC_FILTER} (device birth and last will), set PRESENCE_EMQX=true (EMQX), or leave MQTT_TOPICS empty to subscribe to what the routes and presence need`;
}

/**
 * The configuration as it may be logged: secrets reduced to whether they are
 * set. With env, also the variables that were set, as the schema redacts them.
 */
export function describeConfig(config: Config, env?: Env): Record<string, unknown> {
  const { mqtt, influx } = config;
  return {
    ...(env === undefined ? {} : { environment: describeEnv(INGESTOR_SCHEMA, env) }),
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
      tls: { ca: influx.ca !== undefined },
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
      serviceUsers: config.devices.serviceUsers,
      gatewayUsers: config.devices.gatewayUsers,
    },
    liveness: config.liveness,
    rollups: config.rollups,
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

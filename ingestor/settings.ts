/**
 * The ingestor's environment variables: one table from which config.ts loads
 * them and its table in docs/configuration.md is generated (npm run config-docs).
 * Cross-variable rules (topics from the routes, a certificate with its key,
 * the log big enough for a message) stay in config.ts.
 */
import { DEFAULT_MAX_PAYLOAD_BYTES } from './decoders/payload.ts';
import { DEFAULT_MAX_FUTURE_MS } from './decoders/timestamp.ts';
import { boolean, durationMs, durationWithUnit, integer, list, listenAddress, matching, oneOf, path, port, text, url, verbatim } from '../common/config/parsers.ts';
import { optional, required, secretNames, ValueProblem, type Schema } from '../common/config/schema.ts';
import { LOG_LEVEL, LOG_LEVELS, type LogLevel } from '../common/settings.ts';

export { LOG_LEVELS, type LogLevel };
export const INFLUX_APIS = ['v2', 'v1', 'v3'] as const;

const HOUR_MS = 3_600_000;
const MQTT_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'];

export const INGESTOR = {
  MQTT_URL: required({ name: 'MQTT_URL', parse: url(MQTT_SCHEMES, 'mqtt://localhost:1883'), default: 'mqtt://localhost:1883', doc: 'broker URL (`mqtt:`, `mqtts:`, `ws:`, `wss:`)' }),
  MQTT_USERNAME: optional({ name: 'MQTT_USERNAME', parse: verbatim, doc: 'broker user name' }),
  MQTT_PASSWORD: optional({ name: 'MQTT_PASSWORD', parse: verbatim, secret: true, doc: 'broker password' }),
  MQTT_CLIENT_ID: optional({
    name: 'MQTT_CLIENT_ID',
    parse: (raw) => {
      if (raw.length > 65535) throw new ValueProblem('expected at most 65535 characters', `${raw.slice(0, 20)}…`);
      return raw;
    },
    defaultDoc: 'random',
    doc: 'set it to get a **persistent session** (`clean: false`, session expiry below): the broker keeps messages for the ingestor while it is down',
  }),
  MQTT_TOPICS: optional({
    name: 'MQTT_TOPICS',
    parse: text,
    defaultDoc: 'empty: the routes\' filters + `sensors/+/+/status`',
    doc: 'comma-separated topic filters; a value replaces the default list as a whole, so keep a presence source in it (`sensors/+/+/status`), or a start-up warning says `device_presence` stays empty. `PRESENCE_EMQX` and `SPARKPLUG` add their own filters unless the list already reaches those topics',
  }),
  MQTT_QOS: required({ name: 'MQTT_QOS', parse: (raw) => integer(0, 2)(raw) as 0 | 1 | 2, default: '1', doc: 'subscription QoS, 0–2' }),
  MQTT_SHARED_GROUP: optional({ name: 'MQTT_SHARED_GROUP', parse: matching(/^[^/+#]+$/, 'expected a group name without "/", "+" or "#"'), doc: 'subscribe as `$share/{group}/{filter}` to spread load over several ingestors' }),
  MQTT_PROTOCOL_VERSION: required({ name: 'MQTT_PROTOCOL_VERSION', parse: (raw) => Number(oneOf(['4', '5'])(raw)) as 4 | 5, default: '5', doc: '`4` (3.1.1) or `5`; a broker that refuses 5 gets 3.1.1 from the next attempt, with a warning' }),
  MQTT_SESSION_EXPIRY_S: required({ name: 'MQTT_SESSION_EXPIRY_S', parse: integer(1, 0xffffffff), default: String(7 * 24 * 3600), doc: 'MQTT 5 session expiry for a persistent session' }),
  MQTT_KEEPALIVE_S: required({ name: 'MQTT_KEEPALIVE_S', parse: integer(1, 65535), default: '60', doc: 'MQTT keepalive: a connection silent for 1.5 × this long is dropped (by either side) and reconnected' }),
  MQTT_CA_FILE: optional({ name: 'MQTT_CA_FILE', parse: path, doc: 'TLS: CA bundle (PEM path)' }),
  MQTT_CERT_FILE: optional({ name: 'MQTT_CERT_FILE', parse: path, doc: 'TLS: client certificate (PEM path); needs `MQTT_KEY_FILE`' }),
  MQTT_KEY_FILE: optional({ name: 'MQTT_KEY_FILE', parse: path, doc: 'TLS: client key (PEM path); needs `MQTT_CERT_FILE`' }),
  INFLUX_URL: required({ name: 'INFLUX_URL', parse: url(['http:', 'https:'], 'http://localhost:8086'), default: 'http://localhost:8086', doc: 'InfluxDB URL' }),
  INFLUX_CA_FILE: optional({ name: 'INFLUX_CA_FILE', parse: path, doc: 'TLS to InfluxDB: the CA certificate(s) (PEM) that signed its certificate, trusted instead of the system\'s CAs; needs an `https://` `INFLUX_URL`. Unset: the system\'s CAs (and `NODE_EXTRA_CA_CERTS`)' }),
  INFLUX_API: required({ name: 'INFLUX_API', parse: oneOf(INFLUX_APIS), default: 'v2', doc: '`v2` (InfluxDB 2, `/api/v2/write`), `v1` (InfluxDB 1.x, `/write?db=`), `v3` (InfluxDB 3 Core/Enterprise, `/api/v3/write_lp` with partial writes; docs/installation.md#influxdb-3). `v1`/`v2` at an InfluxDB 3 server is refused at start: its `/ping` says what it is' }),
  INFLUX_TOKEN: optional({ name: 'INFLUX_TOKEN', parse: verbatim, secret: true, doc: 'token (`Authorization: Token …`); with `v1`, used when no user is set' }),
  INFLUX_ORG: required({ name: 'INFLUX_ORG', parse: text, default: 'sensorflow', doc: 'organization (v2)' }),
  INFLUX_BUCKET: required({ name: 'INFLUX_BUCKET', parse: text, default: 'iot', doc: 'bucket (v2) or database (v1, v3; InfluxDB 3 creates it on the first write, and takes ASCII letters, digits, `_`, `-` only)' }),
  INFLUX_USERNAME: optional({ name: 'INFLUX_USERNAME', parse: verbatim, doc: 'v1 basic auth user' }),
  INFLUX_PASSWORD: optional({ name: 'INFLUX_PASSWORD', parse: verbatim, secret: true, doc: 'v1 basic auth password' }),
  INFLUX_TIMEOUT_MS: required({ name: 'INFLUX_TIMEOUT_MS', parse: durationMs(100, 600_000), default: '10000', doc: 'per write request' }),
  BATCH_SIZE: required({ name: 'BATCH_SIZE', parse: integer(1, 100_000), default: '5000', doc: 'lines per write' }),
  FLUSH_INTERVAL_MS: required({ name: 'FLUSH_INTERVAL_MS', parse: durationMs(10, 600_000), default: '1000', doc: 'longest a point waits for its batch' }),
  WRITE_CONCURRENCY: required({ name: 'WRITE_CONCURRENCY', parse: integer(1, 64), default: '2', defaultDoc: '`2` (`8` with `INFLUX_API=v3`)', doc: 'writes in flight at once; InfluxDB 3 answers each write after its 1 s write-ahead-log flush, hence more of them' }),
  WRITE_RETRY_MAX_MS: required({ name: 'WRITE_RETRY_MAX_MS', parse: durationMs(100, HOUR_MS), default: '30000', doc: 'longest wait between write retries (and the retry period while InfluxDB refuses our credentials)' }),
  WAL_DIR: required({ name: 'WAL_DIR', parse: path, default: 'data/wal', doc: 'write-ahead log directory (relative to the working directory); must survive restarts' }),
  WAL_MAX_BYTES: required({ name: 'WAL_MAX_BYTES', parse: integer(1024 * 1024, Number.MAX_SAFE_INTEGER), default: String(1024 * 1024 * 1024), doc: 'log size cap; at the cap the ingestor stops acknowledging (see `docs/delivery.md` for sizing)' }),
  WAL_SYNC_INTERVAL_MS: required({ name: 'WAL_SYNC_INTERVAL_MS', parse: durationMs(0, HOUR_MS), default: '1000', doc: '`fdatasync` period: what a power cut can lose; `0` syncs every append' }),
  MAX_PAYLOAD_BYTES: required({ name: 'MAX_PAYLOAD_BYTES', parse: integer(16, 16 * 1024 * 1024), default: String(DEFAULT_MAX_PAYLOAD_BYTES), doc: 'larger payloads are rejected' }),
  SHUTDOWN_TIMEOUT_MS: required({ name: 'SHUTDOWN_TIMEOUT_MS', parse: durationMs(0, HOUR_MS), default: '30000', doc: 'how long SIGTERM spends writing the log\'s backlog before exiting (the rest stays in the log)' }),
  HTTP_PORT: required({ name: 'HTTP_PORT', parse: port(0), default: '8080', doc: '`/healthz`, `/readyz`, `/metrics`; `0` turns the server off' }),
  HTTP_HOST: required({ name: 'HTTP_HOST', parse: listenAddress(), default: '127.0.0.1', doc: 'address of that server; compose sets `0.0.0.0` inside the container (published on 127.0.0.1 only)' }),
  STATS_INTERVAL_MS: required({ name: 'STATS_INTERVAL_MS', parse: durationMs(1000, HOUR_MS), default: '10000', doc: 'period of the `ingestor_stats` points' }),
  PRESENCE_EMQX: required({ name: 'PRESENCE_EMQX', parse: boolean, default: 'false', defaultDoc: '`false` (`true` in compose)', doc: 'subscribe to EMQX\'s `$SYS/brokers/{node}/clients/+/connected\\|disconnected` (needs the ACL below) and read them as presence; `false`: those topics are not presence (a route may take them, else `topic_unmatched`)' }),
  PRESENCE_EMQX_NODE: required({
    name: 'PRESENCE_EMQX_NODE',
    parse: (raw) => {
      const node = raw.trim();
      if (node !== '+' && /[/+#]/.test(node)) throw new ValueProblem('expected an EMQX node name such as emqx@10.0.0.1, or + for every node');
      return node;
    },
    default: '+',
    doc: 'the EMQX node whose events to read',
  }),
  PRESENCE_HOLD_MS: required({ name: 'PRESENCE_HOLD_MS', parse: durationMs(0, 600_000), default: '5000', doc: 'how long an EMQX presence event of a device whose location is not known yet waits for telemetry or a status topic to name it (then it is written with `unknown`); `0` never waits' }),
  PRESENCE_EMQX_SERVICE_USERS: required({ name: 'PRESENCE_EMQX_SERVICE_USERS', parse: list(), default: 'monitor,commander', doc: 'comma-separated broker user names of the stack\'s own services (and `MQTT_USERNAME`, always): EMQX events about clients logged in as them are never a device\'s (docs/liveness.md)' }),
  PRESENCE_EMQX_GATEWAY_USERS: required({ name: 'PRESENCE_EMQX_GATEWAY_USERS', parse: list(), default: 'gateway', doc: 'comma-separated broker user names that connect for devices (the simulator, a field gateway) and run the health check: an EMQX event about such a client is a device\'s only when its client id is a device (in `DEVICES_FILE`, or it sent something); it waits up to `PRESENCE_HOLD_MS` for that, then is dropped' }),
  DEVICE_STATE_INTERVAL_S: required({ name: 'DEVICE_STATE_INTERVAL_S', parse: integer(1, 3600), default: '60', doc: 'period of the `device_state` points, one per known device (docs/liveness.md); 1–3600 s' }),
  DEVICE_STATE_MAX_LAG_S: required({ name: 'DEVICE_STATE_MAX_LAG_S', parse: integer(1, 86_400), default: '120', doc: 'a message whose payload time is older than this on arrival is late; while more than half of a tick\'s timed messages are late the ingestor is catching up a backlog and skips `device_state` ticks' }),
  DEVICE_FORGET_AFTER: required({ name: 'DEVICE_FORGET_AFTER', parse: durationWithUnit(60_000, 3650 * 86_400_000, 'off'), default: '30d', doc: 'a device with no message for this long is forgotten: removed from the directory, logged, and written once with `state="forgotten"`; `off` never forgets' }),
  DEVICE_TROUBLE_SILENT_AFTER: required({ name: 'DEVICE_TROUBLE_SILENT_AFTER', parse: durationWithUnit(1000, 30 * 86_400_000), default: '5m', doc: 'a device whose newest message is this old is "in trouble" and written to `device_trouble` at each tick (offline devices always are); keep it at most the smallest silence limit of the alert rules (`silence.after` and `silence.after_by_group` in grafana/thresholds.yaml, checked by a unit test for the shipped values), better half of it (docs/liveness.md)' }),
  ROLLUPS: required({ name: 'ROLLUPS', parse: boolean, default: 'true', doc: 'per-minute rollups in the stream: min/max/sum/count of each numeric field per device (`{measurement}_1m`) and per location and group (`{measurement}_location_1m`), which the dashboards and reading rules read (docs/data-model.md#rollups)' }),
  ROLLUP_MEASUREMENTS: required({ name: 'ROLLUP_MEASUREMENTS', parse: list(matching(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected measurement names of letters, digits, "_", "." or "-"')), default: 'telemetry', doc: 'comma-separated measurements rolled up (the points with a `device` tag)' }),
  ROLLUP_GRACE_S: required({ name: 'ROLLUP_GRACE_S', parse: integer(0, 3600), default: '30', doc: 'a minute\'s rollup is written once the minute has ended and none of its points has arrived for this long; a point of a minute already written is in the raw data only (counted as late); 0–3600 s' }),
  ROLLUP_MAX_BUCKETS: required({ name: 'ROLLUP_MAX_BUCKETS', parse: integer(1000, 100_000_000), default: '1000000', doc: 'open rollup buckets (device-minutes plus location-minutes) at most, which bounds their memory (about 0.5 KiB each); beyond, the oldest open minute is written early' }),
  DEVICES_FILE: optional({ name: 'DEVICES_FILE', parse: path, doc: 'device registry, YAML or CSV (below)' }),
  DEVICE_DIRECTORY_FILE: required({ name: 'DEVICE_DIRECTORY_FILE', parse: path, default: 'data/devices.json', doc: 'where locations learned from topics, each device\'s last status, its liveness (docs/liveness.md) and who was in trouble at the last tick are kept across restarts; one file per ingestor' }),
  LOG_LEVEL,
  DEBUG: optional({ name: 'DEBUG', parse: verbatim, doc: '`mqttjs*` turns on mqtt.js\'s own debug output (off otherwise: it costs even when silent)' }),
  ROUTES_FILE: optional({ name: 'ROUTES_FILE', parse: path, doc: 'topic layouts → points (below); without it, one route for `sensors/{location}/{device}/telemetry`' }),
  TIMESTAMP_MAX_FUTURE_MS: required({ name: 'TIMESTAMP_MAX_FUTURE_MS', parse: durationMs(0, 10 * 365 * 24 * HOUR_MS), default: String(DEFAULT_MAX_FUTURE_MS), doc: 'payload times further ahead of the receive time are rejected' }),
  SPARKPLUG: required({ name: 'SPARKPLUG', parse: boolean, default: 'false', doc: 'subscribe to `spBv1.0/#` and decode Sparkplug B (below); `false`: those topics are not Sparkplug (a route may take them, else `topic_unmatched`)' }),
} as const;

export const INGESTOR_SCHEMA: Schema = { program: 'ingestor (`npm run ingestor`)', variables: Object.values(INGESTOR) };

/** What SENSORFLOW_ENV=production checks for development defaults before the ingestor starts. */
export const INGESTOR_REFUSES = secretNames(INGESTOR_SCHEMA);

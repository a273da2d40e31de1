/**
 * A stand-in for InfluxDB 3 Core (it cannot run on the development
 * machines), built from its source at influxdata/influxdb tag v3.10.1. Each
 * behaviour cites the file and lines it follows; paths are relative to that
 * repository. It answers as InfluxDB 3 does where sensorflow talks to it:
 *
 * - `/api/v3/write_lp` (accept_partial, refused line numbers, the 1 s
 *   write-ahead-log flush before the answer, the auto-created database and
 *   Core's 5-database limit, the database name rule, per-line schema errors),
 *   `/api/v2/write` and `/write` (accept_partial forced off, and their own
 *   error shapes: every write-buffer fault is a 400 "invalid" on v2);
 * - `/ping`, `/health`, `/api/v1/health`; tokens (`Bearer`/`Token`/`Basic`),
 *   `--without-auth`, `--disable-authz ping,health`;
 * - `/api/v3/configure/database` (GET/POST/PUT/DELETE), the admin token.
 *
 * Faults a test can inject: the next N writes fail as a full write buffer
 * (`wal buffer full`), a shutting-down WAL, or a soft-deleted database; and an
 * outage (pause(): the port closes, connections are cut; resume()).
 *
 * Stored points stay queryable for assertions (`points()`), with InfluxDB's
 * overwrite semantics: a point is identified by table, tag set and time, and
 * a repeat overwrites it. Field sets are parsed with the ingestor's strict
 * reader (ingestor/decoders/line-protocol-parse.ts), tag sets here (a `"` in a
 * tag value is literal): parse error texts are not InfluxDB's parser's, and
 * nothing asserts on them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { parseLine, type ParsedLine } from '../../ingestor/decoders/line-protocol-parse.ts';
import type { FieldValue } from '../../ingestor/model/point.ts';
import { v3DatabaseNameProblem } from '../../ingestor/writer/influxdb3-rules.ts';

export type ColumnType = 'tag' | 'field::float' | 'field::integer' | 'field::uinteger' | 'field::string' | 'field::boolean';

export interface StoredPoint {
  readonly table: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, FieldValue>>;
  readonly timeNs: bigint;
}

interface Database {
  readonly name: string;
  retentionPeriod: string | undefined;
  deleted: boolean;
  readonly tables: Map<string, Map<string, ColumnType>>;
  readonly points: Map<string, StoredPoint>;
  /** Lines stored, repeats included. */
  linesAccepted: number;
}

export type WriteFault =
  /** `influxdb3_wal/src/lib.rs` l. 37–38: `wal buffer full with {0} ops` (100,000 by default, serve.rs l. 343–350). */
  | 'buffer_full'
  /** `influxdb3_wal/src/lib.rs` l. 52–53. */
  | 'shutdown'
  /** `influxdb3_write/src/write_buffer/mod.rs` l. 113–114; validator.rs l. 102–106. */
  | 'soft_deleted';

export interface WriteRecord {
  readonly path: string;
  readonly db: string | undefined;
  readonly status: number;
  readonly body: string;
}

export interface Influx3StandInOptions {
  /** The admin token, as `--admin-token-file` gives it (must start with `apiv3_`, serve.rs l. 1808–1813). @default random */
  readonly adminToken?: string;
  /** `--without-auth`: no token needed (serve.rs l. 275–277). @default false */
  readonly withoutAuth?: boolean;
  /** `--disable-authz`: these paths answer without a token (serve.rs l. 279–281). */
  readonly disableAuthz?: readonly ('ping' | 'health')[];
  /** `--wal-flush-interval` (serve.rs l. 323–331): writes are answered after the next flush. @default 1000 */
  readonly walFlushIntervalMs?: number;
  /** `--max-http-request-size` (serve.rs l. 233–240). @default 10 MiB */
  readonly maxRequestBytes?: number;
  /** `product_name` in /ping (`influxdb3_server/src/lib.rs` l. 54). @default 'InfluxDB 3 Core' */
  readonly product?: string;
}

export interface Influx3StandIn {
  readonly url: string;
  readonly port: number;
  /** The operator (admin) token, as `influxdb3 create token --admin` prints it. */
  readonly adminToken: string;
  readonly writes: WriteRecord[];
  /** Databases by name (soft-deleted ones included). */
  readonly databases: Map<string, Database>;
  /** Stored points of a database (and table), after overwrites. */
  points(db: string, table?: string): StoredPoint[];
  /** Lines stored in `db`, repeats included. */
  linesAccepted(db: string): number;
  /** The next `count` writes fail with this fault (as InfluxDB 3 answers it on the path used). */
  failNext(fault: WriteFault, count: number): void;
  /** An outage: stop listening and cut every connection. */
  pause(): Promise<void>;
  /** Listen again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export const STANDIN_VERSION = '3.10.1';
/** serve.rs l. 186–188 (v3.10.1). */
export const CORE_LIMITS = { databases: 5, tables: 2000, columnsPerTable: 500 } as const;

const FIELD_TYPE: Record<FieldValue['kind'], ColumnType> = {
  float: 'field::float', int: 'field::integer', uint: 'field::uinteger', string: 'field::string', bool: 'field::boolean',
};
/** `core/schema/src/lib.rs` l. 1141–1162: how a column type is printed. */
const columnTypeName = (type: ColumnType): string => `iox::column_type::${type}`;

/** Precision names and aliases (`influxdb3_types/src/write.rs` l. 17–30), ns per unit; `auto` guesses from the magnitude. */
const PRECISION_NS: Record<string, bigint> = {
  second: 1_000_000_000n, s: 1_000_000_000n, millisecond: 1_000_000n, ms: 1_000_000n,
  microsecond: 1_000n, us: 1_000n, u: 1_000n, nanosecond: 1n, ns: 1n, n: 1n,
};

class HttpAnswer {
  constructor(readonly status: number, readonly body: string, readonly contentType = 'application/json') {}
}
/** `{"error": …, "data": …}` (`influxdb3_server/src/http.rs` l. 603–608). */
const errorJson = (status: number, error: string, data?: unknown): HttpAnswer => new HttpAnswer(status, JSON.stringify({ error, ...(data !== undefined && { data }) }));
/** Plain-text errors (`bytes_to_response_body(self.to_string())`, e.g. http.rs l. 975–991). */
const errorText = (status: number, text: string): HttpAnswer => new HttpAnswer(status, text, 'text/plain');

interface LineError {
  readonly error_message: string;
  readonly line_number: number;
  /** Cut to 20 bytes when serialized (`influxdb3_types/src/write.rs` l. 156–185). */
  readonly original_line: string;
}

/** Splits on `separator` where it is not backslash-escaped. */
function splitEscaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

const unescapeName = (text: string): string => text.replace(/\\([,= ])/g, '$1');

/**
 * One line, as InfluxDB reads it: in the measurement and the tag set a `"` is
 * an ordinary character (only `\,` `\=` `\ ` are escapes); the field set and
 * the time go to the ingestor's strict reader.
 */
function parseV3Line(line: string): ParsedLine {
  let end = 0;
  for (; end < line.length; end += 1) {
    if (line[end] === '\\') end += 1;
    else if (line[end] === ' ') break;
  }
  const [measurement = '', ...tagParts] = splitEscaped(line.slice(0, end), ',');
  if (measurement === '') throw new Error('the measurement is empty');
  const tags: Record<string, string> = {};
  for (const part of tagParts) {
    const [key = '', ...value] = splitEscaped(part, '=');
    if (key === '' || value.length !== 1 || value[0] === '') throw new Error(`tag ${JSON.stringify(part)} is not key=value`);
    tags[unescapeName(key)] = unescapeName(value[0]!);
  }
  const rest = parseLine(`m${line.slice(end)}`);
  return { measurement: unescapeName(measurement), tags, fields: rest.fields, timestamp: rest.timestamp };
}

const seriesKey = (table: string, tags: Readonly<Record<string, string>>, timeNs: bigint): string =>
  `${table}\u0000${Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join('\u0000')}\u0000${timeNs}`;

export async function startInflux3StandIn(options: Influx3StandInOptions = {}): Promise<Influx3StandIn> {
  const adminToken = options.adminToken ?? `apiv3_${randomBytes(32).toString('base64url')}`;
  if (!adminToken.startsWith('apiv3_')) throw new Error("Invalid token format: must start with 'apiv3_'");
  const tokens = new Set([adminToken]);
  const flushMs = options.walFlushIntervalMs ?? 1000;
  const maxRequestBytes = options.maxRequestBytes ?? 10 * 1024 * 1024;
  const product = options.product ?? 'InfluxDB 3 Core';
  const processId = randomUUID();
  const databases = new Map<string, Database>();
  const writes: WriteRecord[] = [];
  const faults: WriteFault[] = [];
  let adminTokenCreated = true;

  // The WAL flush: writes wait for the next tick (influxdb3_write/src/write_buffer/mod.rs l. 479–492:
  // `write_ops` returns once the buffered ops are persisted, every --wal-flush-interval).
  let waiting: (() => void)[] = [];
  const flushTimer = setInterval(() => {
    const due = waiting;
    waiting = [];
    for (const resolve of due) resolve();
  }, flushMs);
  flushTimer.unref();
  const nextFlush = (): Promise<void> => new Promise((resolve) => waiting.push(resolve));

  const liveDatabases = (): Database[] => [...databases.values()].filter((db) => !db.deleted);

  /** `catalog.begin(db)` creates an unknown database (validator.rs l. 101–110), within Core's limit (http.rs l. 669–686: 422). */
  const databaseFor = (name: string): Database | HttpAnswer => {
    const existing = databases.get(name);
    if (existing !== undefined) return existing;
    if (liveDatabases().length >= CORE_LIMITS.databases) return errorJson(422, `Adding a new database would exceed limit of ${CORE_LIMITS.databases} databases`);
    const created: Database = { name, retentionPeriod: undefined, deleted: false, tables: new Map(), points: new Map(), linesAccepted: 0 };
    databases.set(name, created);
    return created;
  };

  /** One line against the catalog (validator.rs `validate_and_qualify_v1_line`, l. 180–290): the columns it adds, or its error. */
  const checkLine = (db: Database, parsed: ParsedLine, pendingTables: Map<string, Map<string, ColumnType>>): string | undefined => {
    const known = db.tables.get(parsed.measurement) ?? pendingTables.get(parsed.measurement);
    if (known === undefined && db.tables.size + pendingTables.size >= CORE_LIMITS.tables) {
      return `Update to schema would exceed number of tables limit: attempted to create table but already have ${db.tables.size + pendingTables.size} table(s) (limit: ${CORE_LIMITS.tables})`;
    }
    const columns = new Map(known ?? []);
    const want: [string, ColumnType][] = [
      ...Object.keys(parsed.tags).map((key): [string, ColumnType] => [key, 'tag']),
      ...Object.entries(parsed.fields).map(([key, value]): [string, ColumnType] => [key, FIELD_TYPE[value.kind]]),
    ];
    for (const [name, type] of want) {
      const existing = columns.get(name);
      // A name's type is fixed by its first write, tag or field alike (versions/v3/transaction.rs l. 258–280).
      if (existing !== undefined && existing !== type) return `invalid column type for column '${name}', expected ${columnTypeName(existing)}, got ${columnTypeName(type)}`;
      if (existing === undefined) {
        // +1: the time column counts too.
        if (columns.size + 1 >= CORE_LIMITS.columnsPerTable) return `Update to schema would exceed number of columns per table limit of ${CORE_LIMITS.columnsPerTable} columns`;
        columns.set(name, type);
      }
    }
    pendingTables.set(parsed.measurement, columns);
    return undefined;
  };

  const toNs = (timestamp: bigint | undefined, precision: string): bigint | string => {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    if (precision === 'auto') {
      if (timestamp === undefined) return nowNs;
      // Precision::infer_precision guesses the unit from the number of digits.
      const abs = timestamp < 0n ? -timestamp : timestamp;
      const unit = abs < 5_000_000_000n ? PRECISION_NS.s! : abs < 5_000_000_000_000n ? PRECISION_NS.ms! : abs < 5_000_000_000_000_000n ? PRECISION_NS.us! : 1n;
      return timestamp * unit;
    }
    const unit = PRECISION_NS[precision];
    if (unit === undefined) return `unknown variant \`${precision}\``;
    return timestamp === undefined ? (nowNs / unit) * unit : timestamp * unit;
  };

  /**
   * The write path shared by the three endpoints (`write_lp_inner`, http.rs l. 1076–1110),
   * each answering its own way. `acceptPartial` is forced false on `/write` and
   * `/api/v2/write` (`influxdb3_types/src/http.rs` l. 450–459).
   */
  const write = async (route: 'v3' | 'v2' | 'v1', dbName: string | undefined, precision: string, acceptPartial: boolean, body: string): Promise<HttpAnswer> => {
    const v2Error = (status: number, code: string, message: string): HttpAnswer => new HttpAnswer(status, JSON.stringify({ code, message }));
    if (dbName === undefined || dbName === '') {
      if (route === 'v2') return v2Error(400, 'invalid', 'missing bucket');
      return errorText(400, 'missing query parameters db');
    }
    const nameProblem = v3DatabaseNameProblem(dbName);
    if (nameProblem !== undefined) return route === 'v2' ? v2Error(400, 'invalid', nameProblem) : errorJson(400, nameProblem);
    const fault = faults.shift();
    if (fault === 'soft_deleted') {
      const message = `cannot write to soft-deleted database '${dbName}' - it is marked for deletion`;
      // http.rs l. 778–789 (v3 and v1: JSON, 400); V2WriteApiError maps every WriteBuffer error to 400 "invalid" (l. 466–483).
      return route === 'v2' ? v2Error(400, 'invalid', `write buffer error: ${message}`) : errorJson(400, message);
    }
    const db = databaseFor(dbName);
    if (db instanceof HttpAnswer) return route === 'v2' ? v2Error(400, 'invalid', (JSON.parse(db.body) as { error: string }).error) : db;
    if (db.deleted) {
      const message = `cannot write to soft-deleted database '${dbName}' - it is marked for deletion`;
      return route === 'v2' ? v2Error(400, 'invalid', `write buffer error: ${message}`) : errorJson(400, message);
    }

    // Parse and validate every line (validator.rs l. 123–177); without accept_partial the first error ends the write.
    const rawLines = body.split('\n');
    const errors: LineError[] = [];
    const valid: { parsed: ParsedLine; timeNs: bigint }[] = [];
    const pendingTables = new Map<string, Map<string, ColumnType>>();
    let lineNumber = 0;
    for (const raw of rawLines) {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '' || line.startsWith('#')) continue;
      lineNumber += 1;
      let error: string | undefined;
      let parsed: ParsedLine | undefined;
      try {
        parsed = parseV3Line(line);
      } catch (parseError) {
        error = (parseError as Error).message;
      }
      let timeNs: bigint | undefined;
      if (parsed !== undefined) {
        error = checkLine(db, parsed, pendingTables);
        const ns = toNs(parsed.timestamp, precision);
        if (typeof ns === 'string') return route === 'v2' ? v2Error(400, 'invalid', ns) : errorText(400, ns);
        timeNs = ns;
      }
      if (error !== undefined || parsed === undefined || timeNs === undefined) {
        const lineError: LineError = { error_message: error ?? 'invalid line', line_number: lineNumber, original_line: line };
        if (!acceptPartial) {
          // ParseError: v1/v3 as JSON with one line (http.rs l. 750–761), v2 as "invalid" (l. 466–483).
          if (route === 'v2') return v2Error(400, 'invalid', `write buffer error: line protocol parse failed: ${lineError.error_message}`);
          return errorJson(400, 'line protocol parsing error', serializeLineError(lineError));
        }
        errors.push(lineError);
        continue;
      }
      valid.push({ parsed, timeNs });
    }
    // mod.rs l. 494–496: nothing valid and nothing refused.
    if (valid.length === 0 && errors.length === 0) return route === 'v2' ? v2Error(400, 'invalid', 'write buffer error: incoming write was empty') : errorText(400, 'write buffer error: incoming write was empty');

    if (valid.length > 0) {
      if (fault === 'buffer_full' || fault === 'shutdown') {
        const message = fault === 'buffer_full' ? 'write buffer error: error from wal: wal buffer full with 100000 ops' : 'write buffer error: error from wal: wal is shutdown and not accepting writes';
        // v3 and v1: every other write-buffer error is a 500 in plain text (http.rs l. 975–991); v2: 400 "invalid" (l. 466–483).
        return route === 'v2' ? v2Error(400, 'invalid', message) : errorText(500, message);
      }
      // Durable and queryable only after the flush (mod.rs l. 479–492).
      await nextFlush();
      for (const [table, columns] of pendingTables) db.tables.set(table, columns);
      for (const { parsed, timeNs } of valid) {
        const key = seriesKey(parsed.measurement, parsed.tags, timeNs);
        const previous = db.points.get(key);
        db.points.set(key, { table: parsed.measurement, tags: parsed.tags, fields: { ...previous?.fields, ...parsed.fields }, timeNs });
      }
      db.linesAccepted += valid.length;
    }
    if (errors.length === 0) return new HttpAnswer(204, '');
    // PartialLpWrite (http.rs l. 843–867): 422 when a schema limit was hit, else 400.
    const limitHit = errors.some((e) => e.error_message.startsWith('Update to schema would exceed number of') || e.error_message.startsWith('Adding a new database would exceed limit of'));
    return errorJson(limitHit ? 422 : 400, 'partial write of line protocol occurred', errors.map(serializeLineError));
  };

  /** Token check (http.rs l. 1329–1366, `validate_auth_header` l. 2229–2255, errors l. 396–424). */
  const authenticate = (request: IncomingMessage): HttpAnswer | undefined => {
    if (options.withoutAuth === true) return undefined;
    const header = request.headers.authorization;
    const url = new URL(request.url ?? '/', 'http://standin');
    // v1 `?p=` / `?u=&p=` (extract_v1_auth_token) for /query and /write.
    let token: string | undefined = ['/query', '/write'].includes(url.pathname) ? url.searchParams.get('p') ?? undefined : undefined;
    if (token === undefined && header !== undefined) {
      const parts = header.split(' ');
      if (parts.length !== 2 || !['Bearer', 'Token', 'Basic'].includes(parts[0]!)) {
        return new HttpAnswer(400, `{"error": "Authorization header was malformed, the request was not in the form of 'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, Token and Basic"}`);
      }
      // Basic: the password part is the token.
      token = parts[0] === 'Basic' ? Buffer.from(parts[1]!, 'base64').toString('utf8').split(':').slice(1).join(':') : parts[1];
    }
    if (token === undefined || !tokens.has(token)) return new HttpAnswer(401, '{"error": "the request was not authenticated"}');
    return undefined;
  };

  const readBody = async (request: IncomingMessage): Promise<string | HttpAnswer> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      // http.rs l. 959–962 (RequestSizeExceeded → 413).
      if (size > maxRequestBytes) return errorText(413, `max request size (${maxRequestBytes} bytes) exceeded`);
      chunks.push(chunk as Buffer);
    }
    let raw = Buffer.concat(chunks);
    if (request.headers['content-encoding'] === 'gzip') {
      try {
        raw = gunzipSync(raw);
      } catch (error) {
        return errorText(400, `invalid gzip: ${(error as Error).message}`);
      }
    }
    return raw.toString('utf8');
  };

  const readJson = async (request: IncomingMessage): Promise<Record<string, unknown> | HttpAnswer> => {
    const body = await readBody(request);
    if (body instanceof HttpAnswer) return body;
    try {
      const json = JSON.parse(body) as unknown;
      if (typeof json === 'object' && json !== null && !Array.isArray(json)) return json as Record<string, unknown>;
    } catch {
      // below
    }
    return errorText(400, 'serde json error: expected a JSON object');
  };

  /** Routes (http.rs `route_request`, l. 2681–2868; paths in `influxdb3_server/src/all_paths.rs`). */
  const route = async (request: IncomingMessage): Promise<HttpAnswer> => {
    const url = new URL(request.url ?? '/', 'http://standin');
    const method = request.method ?? 'GET';
    const path = url.pathname;
    const query = url.searchParams;
    const open = (path === '/ping' && options.disableAuthz?.includes('ping')) || (['/health', '/api/v1/health'].includes(path) && options.disableAuthz?.includes('health'));
    if (!(path === '/api/v3/configure/token/admin' && method === 'POST') && !open) {
      const refused = authenticate(request);
      if (refused !== undefined) return refused;
    }
    if (path === '/ping' && (method === 'GET' || method === 'POST')) {
      // http.rs l. 1213–1233.
      return new HttpAnswer(200, JSON.stringify({ product_name: product, version: STANDIN_VERSION, revision: 'ff6872a3d8', process_id: processId }));
    }
    if ((path === '/health' || path === '/api/v1/health') && method === 'GET') return new HttpAnswer(200, 'OK', 'text/plain; charset=utf-8');
    if (method === 'POST' && (path === '/api/v3/write_lp' || path === '/api/v2/write' || path === '/write')) {
      const body = await readBody(request);
      if (body instanceof HttpAnswer) return body;
      if (path === '/api/v3/write_lp') {
        // `accept_partial` defaults to true (http.rs l. 1091); precision defaults to auto.
        const acceptPartial = query.get('accept_partial') !== 'false';
        return write('v3', query.get('db') ?? undefined, query.get('precision') ?? 'auto', acceptPartial, body);
      }
      // The legacy endpoints (http.rs l. 2735–2759): bucket (v2) or db (v1), org ignored.
      if (path === '/api/v2/write') return write('v2', query.get('bucket') ?? undefined, query.get('precision') ?? 'ns', false, body);
      return write('v1', query.get('db') ?? undefined, query.get('precision') ?? 'ns', false, body);
    }
    if (path === '/api/v3/configure/database') return configureDatabase(method, query, request);
    if (path === '/api/v3/configure/token/admin' && method === 'POST') {
      // http.rs l. 1113–1125: the first admin token, without authentication; then "already exists" (409, l. 710–715).
      if (adminTokenCreated) return errorText(409, 'token name already exists, _admin');
      adminTokenCreated = true;
      return new HttpAnswer(201, JSON.stringify({ id: 0, name: '_admin', token: adminToken, hash: 'x', created_at: new Date().toISOString(), expiry: null }));
    }
    // Everything else, wrong methods included, is "Not found" (http.rs l. 2867 and l. 151–154).
    return errorText(404, 'Not found');
  };

  /** `/api/v3/configure/database` (http.rs l. 1769–1923; CatalogError statuses l. 656–693). */
  const configureDatabase = async (method: string, query: URLSearchParams, request: IncomingMessage): Promise<HttpAnswer> => {
    if (method === 'GET') {
      // show_databases with ?format=json: one row per database, column "iox::database".
      return new HttpAnswer(200, JSON.stringify([...databases.values()].filter((db) => !db.deleted || query.get('show_deleted') === 'true').map((db) => ({ 'iox::database': db.name, ...(db.retentionPeriod !== undefined && { retention_period: db.retentionPeriod }) }))));
    }
    if (method === 'DELETE') {
      const db = databases.get(query.get('db') ?? '');
      if (db === undefined || db.deleted) return errorText(404, '');
      db.deleted = true;
      return new HttpAnswer(200, '');
    }
    if (method !== 'POST' && method !== 'PUT') return errorText(404, 'Not found');
    const json = await readJson(request);
    if (json instanceof HttpAnswer) return json;
    if (typeof json.db !== 'string') return errorText(400, 'serde json error: missing field `db`');
    const retention = json.retention_period;
    if (retention !== undefined && retention !== null && (typeof retention !== 'string' || !/^\d+\s*(s|m|h|d|w|y|months?|seconds?|minutes?|hours?|days?|weeks?|years?)$/.test(retention.trim()))) {
      return errorText(400, `serde json error: invalid duration ${JSON.stringify(retention)}`);
    }
    if (method === 'POST') {
      const problem = v3DatabaseNameProblem(json.db);
      if (problem !== undefined) return errorJson(400, problem);
      if (databases.has(json.db)) return errorText(409, '');
      const db = databaseFor(json.db);
      if (db instanceof HttpAnswer) return db;
      db.retentionPeriod = typeof retention === 'string' ? retention : undefined;
      return new HttpAnswer(200, '');
    }
    const db = databases.get(json.db);
    if (db === undefined || db.deleted) return errorText(404, '');
    db.retentionPeriod = typeof retention === 'string' ? retention : undefined;
    return new HttpAnswer(200, '');
  };

  const serve = (request: IncomingMessage, response: ServerResponse): void => {
    void route(request).then((answer) => {
      const url = new URL(request.url ?? '/', 'http://standin');
      if (['/api/v3/write_lp', '/api/v2/write', '/write'].includes(url.pathname)) {
        writes.push({ path: url.pathname, db: url.searchParams.get('db') ?? url.searchParams.get('bucket') ?? undefined, status: answer.status, body: answer.body });
      }
      const headers: Record<string, string> = answer.body === '' ? {} : { 'content-type': answer.contentType };
      if (url.pathname === '/ping' && answer.status === 200) {
        Object.assign(headers, { 'x-influxdb-build': product.replace('InfluxDB 3 ', ''), 'x-influxdb-version': STANDIN_VERSION, 'request-id': randomUUID() });
      }
      response.writeHead(answer.status, headers).end(answer.body);
    }, (error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(`stand-in error: ${(error as Error).message}`);
    });
  };

  let server: Server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  let listening = true;

  const stop = (): Promise<void> => {
    if (!listening) return Promise.resolve();
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    return closed;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    adminToken,
    writes,
    databases,
    points: (db, table) => [...(databases.get(db)?.points.values() ?? [])].filter((point) => table === undefined || point.table === table),
    linesAccepted: (db) => databases.get(db)?.linesAccepted ?? 0,
    failNext: (fault, count) => {
      for (let i = 0; i < count; i += 1) faults.push(fault);
    },
    pause: stop,
    resume: async () => {
      if (listening) return;
      server = createServer(serve);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      listening = true;
    },
    close: async () => {
      clearInterval(flushTimer);
      for (const resolve of waiting.splice(0)) resolve();
      await stop();
    },
  };
}

/** `WriteLineError`'s serialized form: `original_line` cut to 20 bytes at a character boundary (write.rs l. 170–185). */
function serializeLineError(error: LineError): { error_message: string; line_number: number; original_line: string } {
  let cut = Buffer.from(error.original_line, 'utf8').subarray(0, 20).toString('utf8');
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1);
  return { error_message: error.error_message, line_number: error.line_number, original_line: cut };
}

/**
 * What one write request to InfluxDB came to, and which treatment each
 * outcome gets. Every HTTP status maps to exactly one kind; the delivery
 * policy (delivery.ts) switches on the kind, never on raw status codes.
 */
export type WriteOutcome =
  /** 204: every line stored. */
  | { readonly kind: 'written' }
  /** 413: the body is too large; split the batch and send the halves. */
  | { readonly kind: 'too_large'; readonly message: string }
  /**
   * 400 (malformed; 1.x "partial write" keeps the valid lines) or 422 (2.x
   * partial write, valid lines kept): some lines will never be accepted.
   * Bisect to find them; resending the good ones is harmless because a
   * repeated point overwrites itself.
   */
  | { readonly kind: 'rejected'; readonly status: number; readonly message: string }
  /**
   * InfluxDB 3 with `accept_partial=true`: every line but `refused` is
   * stored, and InfluxDB says which ones and why. Drop exactly those.
   */
  | { readonly kind: 'partial'; readonly status: number; readonly message: string; readonly refused: readonly RefusedLine[] }
  /** 429 / 503: the server asks us to wait. */
  | { readonly kind: 'throttled'; readonly status: number; readonly retryAfterMs: number; readonly message: string }
  /** Other 5xx: retry with backoff. */
  | { readonly kind: 'server_error'; readonly status: number; readonly message: string }
  /** No HTTP answer (refused, reset, timeout): retry with backoff. */
  | { readonly kind: 'network_error'; readonly message: string }
  /**
   * The TLS handshake failed for a reason a setting or a certificate must fix
   * (InfluxDB's certificate expired, names another host, is signed by a CA
   * we do not trust; or no TLS on that port). `message` is the one line
   * that says so (common/tls-error.ts). Treated like misconfigured: keep the
   * data, retry slowly, one log line per cause.
   */
  | { readonly kind: 'tls_error'; readonly code: string; readonly message: string }
  /**
   * 401 / 403 / 404 and any other 4xx: configuration is wrong (token, org,
   * bucket, database). Retrying fast cannot help; keep the data, say what to
   * fix, retry slowly. Status 0: refused before any request was sent
   * (INFLUX_API=v2 at an InfluxDB 3, server-identity.ts); `message` says why.
   */
  | { readonly kind: 'misconfigured'; readonly status: number; readonly message: string };

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfterMs(header: string | undefined | null, nowMs: number): number {
  if (header === undefined || header === null || header.trim() === '') return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - nowMs) : 0;
}

/** The server's own words, from an InfluxDB JSON error body or plain text. */
export function errorMessage(body: string | undefined): string {
  if (body === undefined || body === '') return '(empty response body)';
  try {
    const json = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof json.error === 'string') return json.error;
    if (typeof json.message === 'string') return json.message;
  } catch {
    // not JSON: use the text
  }
  return body.length > 500 ? `${body.slice(0, 500)}…` : body;
}

export function classifyResponse(status: number, body: string | undefined, retryAfterMs: number): WriteOutcome {
  const message = errorMessage(body);
  if (status >= 200 && status < 300) return { kind: 'written' };
  if (status === 413) return { kind: 'too_large', message };
  if (status === 400 || status === 422) return { kind: 'rejected', status, message };
  if (status === 429 || status === 503) return { kind: 'throttled', status, retryAfterMs, message };
  if (status >= 500) return { kind: 'server_error', status, message };
  return { kind: 'misconfigured', status, message };
}

/** What an operator should check, per status; used in the one log line a misconfiguration gets. */
export function misconfigurationHint(status: number): string {
  switch (status) {
    case 401:
      return 'check INFLUX_TOKEN (v2/v3) or INFLUX_USERNAME / INFLUX_PASSWORD (v1)';
    case 403:
      return 'the credentials lack write permission on INFLUX_BUCKET';
    case 404:
      return 'check INFLUX_ORG and INFLUX_BUCKET (v2) or that the database INFLUX_BUCKET exists (v1), and INFLUX_API';
    default:
      return 'check INFLUX_URL and INFLUX_API';
  }
}

/** One line InfluxDB 3 refused in a partial write: its index in the batch (0-based) and InfluxDB's reason. */
export interface RefusedLine {
  readonly index: number;
  readonly reason: string;
}

/** How InfluxDB 3 starts the error of a line refused because a new database would pass Core's limit. */
export const V3_DATABASE_LIMIT = 'Adding a new database would exceed limit of';

/**
 * The InfluxDB 3 (`/api/v3/write_lp?accept_partial=true`) reading of an
 * answer, read at influxdata/influxdb v3.10.1:
 *
 * - 204: every line stored (`influxdb3_server/src/http.rs`, `write_lp_inner`, l. 1076–1110).
 * - 400, or 422 when a schema limit was hit, with `{"error": "partial write of line
 *   protocol occurred", "data": [{"error_message", "line_number", "original_line"}]}`:
 *   the other lines ARE stored; `line_number` counts from 1 and `original_line`
 *   is cut to 20 bytes, so the number is what names the line
 *   (`http.rs` `Error::PartialLpWrite` l. 843–867; `influxdb3_types/src/write.rs`
 *   `WriteLineError` l. 160–185; `influxdb3_write/src/write_buffer/validator.rs` l. 123–170).
 * - 400 with `"data"` a single line error: `accept_partial=false` (the v1/v2
 *   endpoints force it): nothing is stored (`validator.rs` l. 158–161,
 *   `http.rs` `WriteBufferError::ParseError` l. 750–761). Bisected like a 1.x/2.x 400.
 * - 400 or 422 naming no line: the database is soft-deleted (`http.rs` l. 778–789),
 *   the write was empty, the 5-database limit of Core (`CatalogError::TooManyDbs`,
 *   `http.rs` l. 669–686), a bad database name. None says a line is bad: retried with
 *   backoff as a server fault, the data kept.
 * - 500: every other write-buffer fault, e.g. `wal buffer full with N ops`,
 *   `wal is shutdown and not accepting writes`, object-store errors (`http.rs` l. 975–991,
 *   `influxdb3_wal/src/lib.rs` `Error` l. 36–60): retried.
 * - 413 (`--max-http-request-size`, 10 MiB), 429, 401/403/404 as for 2.x.
 *
 * `lineCount` is the number of lines sent: a line number outside 1..lineCount
 * cannot be trusted, and the batch is then bisected instead (resending good
 * lines is harmless: a repeated point overwrites itself).
 */
export function classifyV3Response(status: number, body: string | undefined, retryAfterMs: number, lineCount: number): WriteOutcome {
  if (status !== 400 && status !== 422) return classifyResponse(status, body, retryAfterMs);
  const message = errorMessage(body);
  const named = namedLines(body);
  if (named === 'one_line_nothing_stored') return { kind: 'rejected', status, message };
  if (named === undefined || named.length === 0) return { kind: 'server_error', status, message: `${message} (HTTP ${status} naming no line: not bad data)` };
  // The database limit of Core is not the line's fault: the same line is stored once the operator frees a database. InfluxDB 3 counts it
  // among per-line errors (influxdb3_server/src/http.rs l. 843–851 at v3.10.1, PartialLpWrite's limit_hit; the message is
  // influxdb3_catalog/src/error.rs l. 96): kept and retried, never dropped as bad data.
  const dbLimit = named.find((line) => line.error_message.startsWith(V3_DATABASE_LIMIT));
  if (dbLimit !== undefined) return { kind: 'server_error', status, message: `${dbLimit.error_message} (HTTP ${status}: a server limit, not bad data; free a database or use Enterprise)` };
  const refused: RefusedLine[] = [];
  const seen = new Set<number>();
  for (const line of named) {
    if (!Number.isInteger(line.line_number) || line.line_number < 1 || line.line_number > lineCount || seen.has(line.line_number)) {
      return { kind: 'rejected', status, message: `${message} (line numbers out of range: bisecting)` };
    }
    seen.add(line.line_number);
    refused.push({ index: line.line_number - 1, reason: line.error_message });
  }
  return { kind: 'partial', status, message, refused };
}

interface V3LineError {
  readonly line_number: number;
  readonly error_message: string;
}

/** The lines a v3 error body names; 'one_line_nothing_stored' for a non-partial parse error; undefined when it names none. */
function namedLines(body: string | undefined): readonly V3LineError[] | 'one_line_nothing_stored' | undefined {
  if (body === undefined || body === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const data = (json as { data?: unknown } | null)?.data;
  const isLineError = (value: unknown): value is V3LineError =>
    typeof value === 'object' && value !== null && typeof (value as V3LineError).line_number === 'number' && typeof (value as V3LineError).error_message === 'string';
  if (Array.isArray(data)) return data.every(isLineError) ? data : undefined;
  if (isLineError(data)) return 'one_line_nothing_stored';
  return undefined;
}

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
   * fix, retry slowly.
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

/**
 * One write request to InfluxDB → a typed WriteOutcome.
 *
 * The HTTP layer is the official client's transport (@influxdata/influxdb-client),
 * the same one its WriteApi uses: gzip, timeouts, TLS, proxies and error
 * parsing come from a well-kept library. Its WriteApi is not used because it
 * buffers and retries on its own, which would hide outcomes the delivery
 * policy must see (and memory it must bound).
 *
 * Endpoints:
 * - v2: `POST /api/v2/write?org=…&bucket=…&precision=ms`;
 * - v3: `POST /api/v3/write_lp?db=…&precision=ms&accept_partial=true`: InfluxDB 3
 *   stores the good lines of a batch and names the others (outcome.ts,
 *   classifyV3Response). Its v2-compatible endpoint is not used: it forces
 *   `accept_partial=false` and answers server faults with 400
 *   (server-identity.ts says why and refuses it);
 * - v1: `POST /write?db=…&precision=ms`, with basic auth when a user is set.
 */
import { HttpError, InfluxDB } from '@influxdata/influxdb-client';
import { errorCode, tlsErrorLine, type TlsPeer } from '../../common/tls-error.ts';
import type { InfluxConfig } from '../config.ts';
import type { SendLines } from '../contracts.ts';
import { classifyResponse, classifyV3Response, parseRetryAfterMs, type WriteOutcome } from './outcome.ts';

/** The contract lives in contracts.ts; re-exported for the wiring in main.ts. */
export type { SendLines };

/** InfluxDB as TLS error lines name it (the ingestor and `npm run setup` share these settings). */
export const INFLUX_TLS_PEER: TlsPeer = { name: 'InfluxDB', url: 'INFLUX_URL', ca: 'INFLUX_CA_FILE', plainScheme: 'http://' };

/**
 * The official client's options for INFLUX_URL: `transportOptions` go to
 * node's https.request, so INFLUX_CA_FILE's certificates replace the system's
 * CAs for this connection (and only it).
 */
export function influxClientOptions(config: Pick<InfluxConfig, 'url' | 'timeoutMs' | 'ca'>): { url: string; timeout: number; transportOptions?: { ca: Buffer } } {
  return { url: config.url, timeout: config.timeoutMs, ...(config.ca !== undefined && { transportOptions: { ca: config.ca } }) };
}

/** A request that got no HTTP answer: a TLS problem explained in one line, or the network error as it came. */
export function transportFailure(error: unknown): Extract<WriteOutcome, { kind: 'network_error' | 'tls_error' }> {
  const code = errorCode(error);
  const explained = tlsErrorLine(error, INFLUX_TLS_PEER);
  if (explained !== undefined && code !== undefined) return { kind: 'tls_error', code, message: explained };
  const message = (error as Error).message || String(error);
  return { kind: 'network_error', message: code && !message.includes(code) ? `${code}: ${message}` : message };
}

/** Bodies larger than this are gzipped; line protocol compresses about 10×. */
const GZIP_THRESHOLD_BYTES = 1000;

export function writePath(config: InfluxConfig): string {
  if (config.api === 'v1') {
    return `/write?${new URLSearchParams({ db: config.bucket, precision: 'ms' }).toString()}`;
  }
  if (config.api === 'v3') {
    // `precision=ms` is the serde alias of Millisecond (influxdb3_types/src/write.rs l. 17–30, v3.10.1);
    // accept_partial defaults to true there (http.rs l. 1091) but is spelled out.
    return `/api/v3/write_lp?${new URLSearchParams({ db: config.bucket, precision: 'ms', accept_partial: 'true' }).toString()}`;
  }
  return `/api/v2/write?${new URLSearchParams({ org: config.org, bucket: config.bucket, precision: 'ms' }).toString()}`;
}

export function createInfluxSender(config: InfluxConfig): SendLines {
  const useToken = config.api !== 'v1' && config.token !== undefined;
  const transport = new InfluxDB({
    ...influxClientOptions(config),
    ...(useToken && { token: config.token }),
  }).transport;
  const path = writePath(config);
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (config.api === 'v1' && config.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
  } else if (config.api === 'v1' && config.token !== undefined) {
    // InfluxDB 1.8+ and 2.x v1-compat endpoints take a token this way.
    headers.authorization = `Token ${config.token}`;
  }

  return async (lines) => {
    try {
      await transport.request(path, lines.join('\n'), {
        method: 'POST',
        headers,
        gzipThreshold: GZIP_THRESHOLD_BYTES,
      });
      return { kind: 'written' };
    } catch (error) {
      if (error instanceof HttpError) {
        const retryAfter = error.headers?.['retry-after'];
        const retryAfterMs = parseRetryAfterMs(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, Date.now());
        return config.api === 'v3'
          ? classifyV3Response(error.statusCode, error.body, retryAfterMs, lines.length)
          : classifyResponse(error.statusCode, error.body, retryAfterMs);
      }
      return transportFailure(error);
    }
  };
}

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
 * - v2 and v3: `POST /api/v2/write?org=…&bucket=…&precision=ms`
 *   (InfluxDB 3 serves the same v2-compatible endpoint);
 * - v1: `POST /write?db=…&precision=ms`, with basic auth when a user is set.
 */
import { HttpError, InfluxDB } from '@influxdata/influxdb-client';
import type { InfluxConfig } from '../config.ts';
import type { SendLines } from '../contracts.ts';
import { classifyResponse, parseRetryAfterMs } from './outcome.ts';

/** The contract lives in contracts.ts; re-exported for the wiring in main.ts. */
export type { SendLines };

/** Bodies larger than this are gzipped; line protocol compresses about 10×. */
const GZIP_THRESHOLD_BYTES = 1000;

export function writePath(config: InfluxConfig): string {
  if (config.api === 'v1') {
    return `/write?${new URLSearchParams({ db: config.bucket, precision: 'ms' }).toString()}`;
  }
  return `/api/v2/write?${new URLSearchParams({ org: config.org, bucket: config.bucket, precision: 'ms' }).toString()}`;
}

export function createInfluxSender(config: InfluxConfig): SendLines {
  const useToken = config.api !== 'v1' && config.token !== undefined;
  const transport = new InfluxDB({
    url: config.url,
    timeout: config.timeoutMs,
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
        return classifyResponse(
          error.statusCode,
          error.body,
          parseRetryAfterMs(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, Date.now()),
        );
      }
      const code = (error as NodeJS.ErrnoException).code;
      const message = (error as Error).message || String(error);
      return { kind: 'network_error', message: code && !message.includes(code) ? `${code}: ${message}` : message };
    }
  };
}

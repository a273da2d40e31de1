/**
 * One HTTP(S) request with node's own client, for the callers that need a CA
 * of their own: the notifier's posts to the bots (NOTIFIER_CA_FILE) and
 * `npm run setup`'s InfluxQL over https (INFLUX_CA_FILE).
 *
 * Why not global fetch: it takes no CA; that needs an undici Agent as its
 * `dispatcher`, from the undici package, whose major versions follow Node's
 * (7 needs Node 20.18, 8 needs 22) while the engine is Node ≥ 20.15. node:https
 * takes `ca` per request, and it is the client the InfluxDB library uses, so
 * certificate errors carry the same codes everywhere (common/tls-error.ts).
 * Redirects are not followed (DingTalk answers a throttled bot with 302).
 */
import { request as plainRequest, type IncomingMessage } from 'node:http';
import { request as tlsRequest } from 'node:https';

export interface HttpRequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** The whole exchange: connect, send, the reply's last byte. */
  readonly timeoutMs: number;
  /** https:// only: the certificates to trust, instead of the system's (node's `ca`). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Keep at most this many bytes of the reply body; the rest is read and dropped. @default 1 MiB */
  readonly maxReplyBytes?: number;
}

export interface HttpReply {
  readonly status: number;
  readonly text: string;
}

/** The error a timed-out request rejects with (name TimeoutError, as fetch's). */
export class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

/** Resolves with the status and body; rejects with node's error, whose `code` says why (ECONNREFUSED, CERT_HAS_EXPIRED ...). */
export function requestText(url: string | URL, options: HttpRequestOptions): Promise<HttpReply> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const tls = target.protocol === 'https:';
  const maxReplyBytes = options.maxReplyBytes ?? 1024 * 1024;
  const headers: Record<string, string | number> = { ...options.headers };
  if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const onReply = (response: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let kept = 0;
      response.on('data', (chunk: Buffer) => {
        if (kept >= maxReplyBytes) return;
        chunks.push(chunk);
        kept += chunk.length;
      });
      response.on('end', () => settle(() => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).subarray(0, maxReplyBytes).toString('utf8') })));
      response.on('error', (error) => settle(() => reject(error)));
    };
    const request = tls
      ? tlsRequest(target, { method: options.method ?? 'GET', headers, ...(options.ca !== undefined && { ca: options.ca as string | Buffer | (string | Buffer)[] }) }, onReply)
      : plainRequest(target, { method: options.method ?? 'GET', headers }, onReply);
    const timer = setTimeout(() => {
      const error = new RequestTimeoutError(`timed out after ${options.timeoutMs} ms`);
      settle(() => reject(error));
      request.destroy(error);
    }, options.timeoutMs);
    request.on('error', (error) => settle(() => reject(error)));
    request.end(options.body);
  });
}

/**
 * Limits for an HTTP server that faces clients it does not trust: how long a
 * request may take to arrive, how big its headers may be, how long an idle
 * keep-alive connection stays open, and how many connections are held at once.
 * Shared by the ingestor's health server and the notifier.
 */
import type { IncomingMessage, Server, ServerOptions } from 'node:http';

export interface HttpLimits {
  /** The whole request (headers and body) must arrive within this. */
  readonly requestTimeoutMs: number;
  /** The headers must arrive within this; a slowloris client is cut off here. */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. @default 5000 */
  readonly keepAliveTimeoutMs?: number;
  /** Larger request headers get 431. @default 16384 */
  readonly maxHeaderBytes?: number;
}

/** Connections held at once; more are closed as soon as they are accepted. */
export const MAX_CONNECTIONS = 1024;

/** Options for `createServer`, with the timeouts checked often enough to mean them. */
export function httpServerOptions(limits: HttpLimits): ServerOptions {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    // Node checks those timeouts only this often (30 s by default): a 5 s
    // headers timeout checked every 30 s would let a slow client hold a
    // connection for 35 s.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(limits.requestTimeoutMs, limits.headersTimeoutMs) / 4))),
    maxHeaderSize: limits.maxHeaderBytes ?? 16 * 1024,
    keepAliveTimeout: limits.keepAliveTimeoutMs ?? 5_000,
  };
}

/** Bounded: idle or slow connections cannot pile up without limit. */
export function limitConnections(server: Server, max = MAX_CONNECTIONS): Server {
  server.maxConnections = max;
  return server;
}

/**
 * For endpoints that take no body: calls `onTooLarge` once, as soon as the
 * body declared or streamed passes `limitBytes`; anything up to the limit is
 * read and discarded. Returns true when the declared length is already over.
 */
export function bodyOverLimit(request: IncomingMessage, limitBytes: number, onTooLarge: () => void): boolean {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (Number.isFinite(declared) && declared > limitBytes) return true;
  let received = 0;
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > limitBytes) {
      request.off('data', onData);
      onTooLarge();
    }
  };
  request.on('data', onData);
  return false;
}

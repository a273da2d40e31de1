/**
 * /healthz: the process is alive and its event loop turns.
 * /readyz: connected to the broker and able to take messages (200), or why
 *   not (503, `reasons`). `warnings` says what is wrong without stopping us
 *   from taking messages, such as InfluxDB unreachable (the write-ahead log
 *   keeps the data), with since when.
 * /metrics: Prometheus text.
 *
 * Hostile clients: only GET and HEAD (else 405 with Allow); no body is taken
 * (over MAX_BODY_BYTES, declared or streamed: 413 and the connection closed);
 * headers must arrive within 5 s and the whole request within 10 s; idle
 * keep-alive connections close after 5 s; at most MAX_CONNECTIONS at once.
 * Malformed requests get Node's own 400.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { bodyOverLimit, httpServerOptions, limitConnections } from '../../common/http-limits.ts';

/** These endpoints take no body; a few KB of one is tolerated and discarded. */
export const MAX_BODY_BYTES = 4096;
export const HEADERS_TIMEOUT_MS = 5_000;
export const REQUEST_TIMEOUT_MS = 10_000;
const ALLOWED_METHODS = 'GET, HEAD';

/** Reply and drop the connection without reading the rest of the body. */
function refuse(request: IncomingMessage, response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    request.socket.destroy();
    return;
  }
  response.writeHead(status, { 'content-type': 'text/plain', connection: 'close', ...headers });
  response.end(text, () => request.socket.destroy());
}

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
}

/** host: HTTP_HOST, loopback unless told otherwise (compose sets 0.0.0.0 inside the container). */
export function startHealthServer(port: number, registry: Registry, readiness: () => Readiness, host = '127.0.0.1'): Promise<Server> {
  const server = createServer(httpServerOptions({ requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS }), (request, response) => {
    const tooLarge = (): void => refuse(request, response, 413, `these endpoints take no body (at most ${MAX_BODY_BYTES} bytes)\n`);
    if (bodyOverLimit(request, MAX_BODY_BYTES, tooLarge)) return tooLarge();
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { 'content-type': 'text/plain', allow: ALLOWED_METHODS }).end(`method ${request.method ?? ''} not allowed: use GET\n`);
      return;
    }
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const state = readiness();
      response
        .writeHead(state.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify({ ready: state.ready, reasons: state.reasons, warnings: state.warnings })}\n`);
    } else if (path === '/metrics') {
      // The connection may have been refused (413) or closed while the text was built.
      const send = (status: number, headers: Record<string, string>, text: string): void => {
        if (!response.headersSent && !response.destroyed) response.writeHead(status, headers).end(text);
      };
      registry.metrics().then(
        (text) => send(200, { 'content-type': registry.contentType }, text),
        (error: unknown) => send(500, { 'content-type': 'text/plain' }, `${(error as Error).message}\n`),
      );
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz, /metrics\n');
    }
  });
  limitConnections(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

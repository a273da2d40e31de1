/**
 * /healthz: the process is alive and its event loop turns.
 * /readyz: connected to the broker and able to take messages (200), or why
 *   not (503, `reasons`). `warnings` says what is wrong without stopping us
 *   from taking messages, such as InfluxDB unreachable (the write-ahead log
 *   keeps the data), with since when.
 * /metrics: Prometheus text.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
}

/** host: HTTP_HOST, loopback unless told otherwise (compose sets 0.0.0.0 inside the container). */
export function startHealthServer(port: number, registry: Registry, readiness: () => Readiness, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const state = readiness();
      response
        .writeHead(state.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify({ ready: state.ready, reasons: state.reasons, warnings: state.warnings })}\n`);
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(`${(error as Error).message}\n`),
      );
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz, /metrics\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

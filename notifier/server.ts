/**
 * The HTTP side:
 *   POST /grafana/webhook  Grafana's webhook notification (version 1), with
 *                          `Authorization: Bearer <NOTIFIER_TOKEN>`
 *   GET  /healthz          alive
 *   GET  /readyz           200 when it can queue notifications, else 503 and why
 *   GET  /metrics          Prometheus text
 *
 * Webhook replies: 200 once every routed copy is fsync'd in the queue;
 * 401 bad or missing token; 413 body over NOTIFIER_MAX_BODY_BYTES; 400 not
 * JSON or not Grafana's payload (the reason in the body); 503 the queue could
 * not be written or no bot is configured (Grafana retries). Nothing is sent
 * to any bot unless the reply is 200.
 *
 * Slow or huge requests: headers must arrive within 10 s and the whole request
 * within NOTIFIER_REQUEST_TIMEOUT_MS; bodies are counted as they stream and cut
 * off at the limit; the token is checked before the body is read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { httpServerOptions, limitConnections } from '../common/http-limits.ts';
import type { NotifierConfig } from './config.ts';
import type { Clock } from './delivery/clock.ts';
import type { Journal } from './delivery/journal.ts';
import { notificationId, parseNotification } from './grafana/payload.ts';
import type { NotifierMetrics } from './metrics.ts';
import { routeNotification } from './routing.ts';

export const WEBHOOK_PATH = '/grafana/webhook';

export interface ServerDeps {
  readonly config: Pick<NotifierConfig, 'token' | 'maxBodyBytes' | 'requestTimeoutMs' | 'routing' | 'bots'>;
  readonly journal: Journal;
  readonly metrics: NotifierMetrics;
  readonly log: Logger;
  readonly clock: Clock;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant-time Bearer check: both sides hashed first, so neither length nor content leaks through timing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const presented = match?.[1]?.trim() ?? '';
  return timingSafeEqual(digest(presented), digest(token)) && presented !== '';
}

function reply(response: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(`${JSON.stringify(body)}\n`);
}

/** Reply and drop the connection without reading the rest of the body. */
function refuse(request: IncomingMessage, response: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: 'close', ...headers });
  response.end(`${JSON.stringify(body)}\n`, () => request.socket.destroy());
}

class TooLarge extends Error {}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        request.pause();
        reject(new TooLarge());
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
    request.once('aborted', () => reject(new Error('request aborted')));
  });
}

export function createNotifierServer(deps: ServerDeps, readiness: () => { ready: boolean; reasons: string[] }): Server {
  const { config, journal, metrics, log, clock } = deps;

  const webhook = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    // Never the headers: the Authorization header is the shared token.
    log.trace({ method: request.method, remote: request.socket.remoteAddress, contentLength: request.headers['content-length'] }, 'webhook request');
    if (request.method !== 'POST') return reply(response, 405, { error: `use POST ${WEBHOOK_PATH}` }, { allow: 'POST' });
    if (!bearerMatches(request.headers.authorization, config.token)) {
      metrics.requests.inc({ outcome: 'unauthorized' });
      log.warn({ remote: request.socket.remoteAddress }, 'webhook request without the right Bearer token refused');
      return refuse(request, response, 401, { error: 'missing or wrong Bearer token' }, { 'www-authenticate': 'Bearer' });
    }
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > config.maxBodyBytes) {
      metrics.requests.inc({ outcome: 'too-large' });
      return refuse(request, response, 413, { error: `body over ${config.maxBodyBytes} bytes` });
    }
    let body: Buffer;
    try {
      body = await readBody(request, config.maxBodyBytes);
    } catch (error) {
      if (error instanceof TooLarge) {
        metrics.requests.inc({ outcome: 'too-large' });
        return refuse(request, response, 413, { error: `body over ${config.maxBodyBytes} bytes` });
      }
      request.socket.destroy();
      return;
    }
    const parsed = parseNotification(body);
    if (!parsed.ok) {
      metrics.requests.inc({ outcome: parsed.reason.startsWith('malformed') ? 'malformed' : 'invalid' });
      log.warn({ reason: parsed.reason }, 'webhook body refused');
      return reply(response, 400, { error: parsed.reason });
    }
    if (config.bots.length === 0) {
      metrics.requests.inc({ outcome: 'unavailable' });
      return reply(response, 503, { error: 'no bot configured: set DINGTALK_WEBHOOK_URL, FEISHU_WEBHOOK_URL or NOTIFIER_CONFIG' });
    }
    const notification = parsed.notification;
    const routed = routeNotification(notification, config.routing);
    const entries = [...routed].map(([bot, forBot]) => ({ bot, id: notificationId(forBot), notification: forBot }));
    let result: { added: number; duplicates: number };
    try {
      result = await journal.add(entries, clock.now());
    } catch (error) {
      metrics.requests.inc({ outcome: 'unavailable' });
      log.error({ error: (error as Error).message }, 'could not queue a notification on disk; Grafana will retry');
      return reply(response, 503, { error: 'could not queue the notification; retry later' });
    }
    metrics.requests.inc({ outcome: result.added === 0 && result.duplicates > 0 ? 'duplicate' : 'accepted' });
    metrics.alertsReceived.inc(notification.alerts.length);
    for (const entry of entries) metrics.received.inc({ bot: entry.bot });
    log.info(
      { groupKey: notification.groupKey, status: notification.status, alerts: notification.alerts.length, bots: [...routed.keys()], queued: result.added, duplicates: result.duplicates },
      'notification queued',
    );
    reply(response, 200, { status: 'queued', bots: [...routed.keys()], queued: result.added, duplicates: result.duplicates });
  };

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === WEBHOOK_PATH) {
      webhook(request, response).catch((error: unknown) => {
        log.error({ error: (error as Error).message }, 'webhook handler failed');
        if (!response.headersSent) reply(response, 500, { error: 'internal error' });
      });
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const state = readiness();
      reply(response, state.ready ? 200 : 503, state);
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(`${(error as Error).message}\n`),
      );
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try POST ${WEBHOOK_PATH}, /healthz, /readyz, /metrics\n`);
    }
  };

  const server = createServer(
    httpServerOptions({ requestTimeoutMs: config.requestTimeoutMs, headersTimeoutMs: Math.min(10_000, config.requestTimeoutMs) }),
    handle,
  );
  limitConnections(server);
  return server;
}

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

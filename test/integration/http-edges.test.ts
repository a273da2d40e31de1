/**
 * Hostile requests at the HTTP edges, against the real ingestor process
 * (/healthz, /readyz, /metrics on HTTP_PORT) and the real notifier: oversized
 * bodies, slowloris headers, unexpected methods, garbage, floods of idle
 * connections. Throughout, a good GET /healthz keeps getting 200. Every raw
 * connection is bounded in time and closed by the test at the end.
 * Spawns processes: run under the shared lock.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MAX_CONNECTIONS } from '../../common/http-limits.ts';
import { HEADERS_TIMEOUT_MS, MAX_BODY_BYTES } from '../../ingestor/health/server.ts';
import { BotStandIn } from '../harness/im-bots.ts';
import { startIngestor, type Ingestor } from '../harness/ingestor.ts';
import { TOKEN } from '../harness/notifier-app.ts';
import { startNotifierProcess, type NotifierProcess } from '../harness/notifier-process.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/process.ts';
import { startMosquitto, type Mosquitto } from '../harness/services.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw TCP connection that records what the server sends and whether (and when) the server closed it. */
interface RawConnection {
  readonly socket: Socket;
  received(): string;
  readonly closed: Promise<{ afterMs: number }>;
  isClosed(): boolean;
}

function open(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    // A refused write to a closed socket (EPIPE, ECONNRESET) is one of the answers we wait for.
    socket.on('error', () => {});
    const closedPromise = new Promise<{ afterMs: number }>((resolveClosed) =>
      socket.once('close', () => {
        closed = true;
        resolveClosed({ afterMs: Date.now() - started });
      }),
    );
    socket.once('connect', () => resolve({ socket, received: () => data, closed: closedPromise, isClosed: () => closed }));
    socket.once('error', reject);
  });
}

/** Sends `request` and waits for the server to close the connection (bounded). */
async function exchange(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<{ response: string; closedByServer: boolean }> {
  const connection = await open(port);
  connection.socket.write(request);
  const closedByServer = await Promise.race([connection.closed.then(() => true), sleep(timeoutMs).then(() => false)]);
  connection.socket.destroy();
  return { response: connection.received(), closedByServer };
}

const statusLine = (response: string): string => response.split('\r\n')[0] ?? '';

/** The good client: a fresh connection each time, so a stuck pool cannot hide a refusal. */
async function goodHealthz(port: number): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) });
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'ok\n');
}

/** Runs `good` every 250 ms while `hostile` runs; returns how many good requests succeeded. */
async function whileHostile<T>(hostile: Promise<T>, good: () => Promise<void>): Promise<{ result: T; goodAnswers: number }> {
  let done = false;
  let goodAnswers = 0;
  const goodLoop = (async () => {
    while (!done) {
      await good();
      goodAnswers += 1;
      await sleep(250);
    }
  })();
  try {
    const result = await hostile;
    return { result, goodAnswers };
  } finally {
    done = true;
    await goodLoop;
  }
}

/** One byte every 200 ms of a header that never ends, until the server hangs up or 10 s pass. */
async function slowloris(port: number, path: string): Promise<{ closedByServer: boolean; afterMs: number; response: string }> {
  const connection = await open(port);
  const started = Date.now();
  connection.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `);
  while (!connection.isClosed() && Date.now() - started < 10_000) {
    connection.socket.write('a');
    await sleep(200);
  }
  const closedByServer = connection.isClosed();
  connection.socket.destroy();
  return { closedByServer, afterMs: Date.now() - started, response: connection.received() };
}

/** `count` connections that send nothing. */
async function idleFlood(port: number, count: number): Promise<RawConnection[]> {
  const connections: RawConnection[] = [];
  for (let i = 0; i < count; i += 1) connections.push(await open(port));
  return connections;
}

describe('the ingestor HTTP edge under hostile requests', () => {
  let broker: Mosquitto;
  let ingestor: Ingestor;
  let port: number;
  before(async () => {
    broker = await startMosquitto();
    port = await freePort();
    ingestor = startIngestor({ MQTT_URL: broker.url, INFLUX_URL: `http://127.0.0.1:${await freePort()}`, INFLUX_API: 'v1', HTTP_PORT: String(port) });
    await waitFor('/healthz', async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200 ? true : undefined));
  });
  after(async () => {
    assert.equal(await ingestor.stop(), 0, 'clean shutdown after all of it');
    ingestor.cleanup();
    await broker.stop();
  });

  test('a body over MAX_BODY_BYTES, declared or streamed, gets 413 and the connection closed; a small one is ignored', async () => {
    const declared = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n${'x'.repeat(64 * 1024)}`);
    assert.equal(statusLine(declared.response), 'HTTP/1.1 413 Payload Too Large');
    assert.ok(declared.closedByServer, 'closed after the 413');

    // Chunked: no length to refuse up front, so the body is counted as it streams.
    const chunk = 'x'.repeat(1024);
    const chunks = Array.from({ length: 64 }, () => `400\r\n${chunk}\r\n`).join('');
    const streamed = await exchange(port, `POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`);
    assert.ok(streamed.closedByServer, 'a streamed body over the limit ends the connection');
    assert.match(statusLine(streamed.response), /^HTTP\/1\.1 (413|405) /);
    assert.ok(!streamed.response.includes('# HELP'), 'no metrics for a refused request');

    const small = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${MAX_BODY_BYTES}\r\n\r\n${'x'.repeat(MAX_BODY_BYTES)}`);
    assert.equal(statusLine(small.response), 'HTTP/1.1 200 OK');
    await goodHealthz(port);
  });

  test('methods other than GET and HEAD get 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`, { method });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'GET, HEAD', method);
      assert.equal(await response.text(), `method ${method} not allowed: use GET\n`);
    }
    const head = await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    await goodHealthz(port);
  });

  test('a garbage request line, bad header syntax and oversized headers get 400 / 431 and the connection closed', async () => {
    const garbage = await exchange(port, 'HELLO THERE\r\n\r\n');
    assert.equal(statusLine(garbage.response), 'HTTP/1.1 400 Bad Request');
    assert.ok(garbage.closedByServer);
    const binary = await exchange(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]));
    assert.equal(statusLine(binary.response), 'HTTP/1.1 400 Bad Request', 'a TLS ClientHello on the plain port');
    const badHeader = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n');
    assert.equal(statusLine(badHeader.response), 'HTTP/1.1 400 Bad Request');
    const hugeHeaders = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`);
    assert.equal(statusLine(hugeHeaders.response), 'HTTP/1.1 431 Request Header Fields Too Large');
    await goodHealthz(port);
  });

  test('slowloris: headers trickled one byte per 200 ms are cut off by the headers timeout; good requests answer throughout', async () => {
    const { result, goodAnswers } = await whileHostile(slowloris(port, '/healthz'), () => goodHealthz(port));
    assert.ok(result.closedByServer, `the server never hung up (gave up after ${result.afterMs} ms)`);
    assert.ok(result.afterMs >= HEADERS_TIMEOUT_MS - 500, `closed after ${result.afterMs} ms: before the headers timeout?`);
    assert.equal(statusLine(result.response), 'HTTP/1.1 408 Request Timeout');
    assert.ok(goodAnswers >= 3, `good requests answered: ${goodAnswers}`);
  });

  test('a keep-alive connection left idle after a request is closed by the server after the keep-alive timeout', async () => {
    const connection = await open(port);
    try {
      connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      // Chunked: the body ends with the zero-length chunk.
      await waitFor('the answer', () => (connection.received().endsWith('ok\n\r\n0\r\n\r\n') ? true : undefined), 5_000, 20);
      assert.equal(statusLine(connection.received()), 'HTTP/1.1 200 OK');
      assert.match(connection.received(), /\r\nKeep-Alive: timeout=5\r\n/i);
      const closedByServer = await Promise.race([connection.closed.then(() => true), sleep(10_000).then(() => false)]);
      assert.ok(closedByServer, 'still open 10 s after its last request');
    } finally {
      connection.socket.destroy();
    }
  });

  test('a flood of 300 idle connections: good requests answer throughout, and the server closes the idle ones itself', async () => {
    const flood = await idleFlood(port, 300);
    try {
      for (let i = 0; i < 5; i += 1) await goodHealthz(port);
      const { result, goodAnswers } = await whileHostile(
        Promise.race([Promise.all(flood.map((c) => c.closed)).then(() => true), sleep(10_000).then(() => false)]),
        () => goodHealthz(port),
      );
      assert.ok(result, `still open after 10 s: ${flood.filter((c) => !c.isClosed()).length} of 300`);
      assert.ok(goodAnswers >= 3, `good requests answered: ${goodAnswers}`);
    } finally {
      for (const connection of flood) connection.socket.destroy();
    }
  });

  test(`more than ${MAX_CONNECTIONS} connections: the excess is closed at once, and service returns when the idle ones time out`, async () => {
    const flood = await idleFlood(port, MAX_CONNECTIONS + 100);
    try {
      // Closed by the server at once: the ones beyond the limit.
      await sleep(1000);
      const closedAtOnce = flood.filter((c) => c.isClosed()).length;
      assert.ok(closedAtOnce >= 100 && closedAtOnce <= 110, `closed at once: ${closedAtOnce} of ${flood.length}`);
      assert.ok(flood.slice(0, MAX_CONNECTIONS - 10).every((c) => !c.isClosed()), 'the first connections are held until their headers time out');
      await Promise.race([Promise.all(flood.map((c) => c.closed)), sleep(10_000)]);
      assert.equal(flood.filter((c) => !c.isClosed()).length, 0, 'every idle connection closed by the server');
      await goodHealthz(port);
    } finally {
      for (const connection of flood) connection.socket.destroy();
    }
  });
});

describe('the notifier HTTP edge under hostile requests', () => {
  let bot: BotStandIn;
  let notifier: NotifierProcess;
  before(async () => {
    bot = await BotStandIn.start({ platform: 'dingtalk', secret: 'SECedges0123456789' });
    // A 3 s request timeout makes the headers timeout 3 s too.
    notifier = await startNotifierProcess(
      { NOTIFIER_TOKEN: TOKEN, DINGTALK_WEBHOOK_URL: bot.url, DINGTALK_SECRET: 'SECedges0123456789', NOTIFIER_REQUEST_TIMEOUT_MS: '3000', NOTIFIER_QUEUE_DIR: 'queue' },
      await freePort(),
    );
  });
  after(async () => {
    await notifier.process.stop();
    notifier.cleanup();
    await bot.stop();
  });

  test('slowloris on the webhook and a flood of 300 idle connections: good requests answer throughout, the server closes both', async () => {
    const port = notifier.port;
    const flood = await idleFlood(port, 300);
    try {
      const { result, goodAnswers } = await whileHostile(slowloris(port, '/grafana/webhook'), () => goodHealthz(port));
      assert.ok(result.closedByServer, `the server never hung up (gave up after ${result.afterMs} ms)`);
      assert.equal(statusLine(result.response), 'HTTP/1.1 408 Request Timeout');
      assert.ok(goodAnswers >= 3, `good requests answered: ${goodAnswers}`);
      await Promise.race([Promise.all(flood.map((c) => c.closed)), sleep(5_000)]);
      assert.equal(flood.filter((c) => !c.isClosed()).length, 0, 'every idle connection closed by the server');
      const garbage = await exchange(port, 'HELLO THERE\r\n\r\n');
      assert.equal(statusLine(garbage.response), 'HTTP/1.1 400 Bad Request');
      await goodHealthz(port);
    } finally {
      for (const connection of flood) connection.socket.destroy();
    }
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { backoffDelayMs } from '../../ingestor/writer/backoff.ts';
import { Delivery } from '../../ingestor/writer/delivery.ts';
import { classifyResponse, errorMessage, parseRetryAfterMs, type WriteOutcome } from '../../ingestor/writer/outcome.ts';

describe('classifyResponse: one treatment per HTTP status', () => {
  const cases: [number, WriteOutcome['kind']][] = [
    [204, 'written'], [413, 'too_large'], [400, 'rejected'], [422, 'rejected'], [429, 'throttled'], [503, 'throttled'],
    [500, 'server_error'], [502, 'server_error'], [401, 'misconfigured'], [403, 'misconfigured'], [404, 'misconfigured'], [405, 'misconfigured'],
  ];
  for (const [status, kind] of cases) test(`${status} → ${kind}`, () => assert.equal(classifyResponse(status, '', 0).kind, kind));

  test('keeps the server reason and Retry-After', () => {
    assert.deepEqual(classifyResponse(429, '{"code":"too many requests","message":"slow down"}', 7000), {
      kind: 'throttled', status: 429, retryAfterMs: 7000, message: 'slow down',
    });
    assert.equal(errorMessage('{"error":"partial write: field type conflict"}'), 'partial write: field type conflict');
    assert.equal(errorMessage('plain text'), 'plain text');
  });

  test('Retry-After in seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfterMs('5', 0), 5000);
    assert.equal(parseRetryAfterMs('Thu, 01 Jan 1970 00:00:10 GMT', 4000), 6000);
    assert.equal(parseRetryAfterMs('soon', 0), 0);
    assert.equal(parseRetryAfterMs(undefined, 0), 0);
  });
});

describe('backoffDelayMs', () => {
  test('grows exponentially between half and all of the ceiling, and is capped', () => {
    const options = { baseMs: 100, maxMs: 1000 };
    assert.equal(backoffDelayMs(0, options, () => 0), 50);
    assert.equal(backoffDelayMs(0, options, () => 1), 100);
    assert.equal(backoffDelayMs(3, options, () => 1), 800);
    assert.equal(backoffDelayMs(50, options, () => 1), 1000);
    assert.equal(backoffDelayMs(50, options, () => 0), 500);
  });
});

/** A scripted server: answers each request from `respond`, records what it was sent. */
function scripted(respond: (lines: readonly string[], call: number) => WriteOutcome) {
  const requests: string[][] = [];
  const written: string[] = [];
  const rejected: [string, string][] = [];
  const sleeps: number[] = [];
  const delivery = new Delivery({
    send: (lines) => {
      requests.push([...lines]);
      return Promise.resolve(respond(lines, requests.length));
    },
    log: pino({ level: 'silent' }),
    events: {
      written: (count) => written.push(...requests.at(-1)!.slice(0, count)),
      rejected: (line, reason) => rejected.push([line, reason]),
      retrying: () => {},
    },
    backoff: { baseMs: 100, maxMs: 1000 },
    misconfiguredRetryMs: 30_000,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  return { delivery, requests, written, rejected, sleeps };
}

describe('Delivery', () => {
  const lines = ['a 1', 'b 2', 'BAD 3', 'c 4', 'd 5'];

  test('400: bisects down to the bad line, writes every other line, rejects that one with the reason', async () => {
    const server = scripted((batch) =>
      batch.includes('BAD 3') ? { kind: 'rejected', status: 400, message: 'unable to parse BAD 3' } : { kind: 'written' },
    );
    await server.delivery.deliver(lines);
    assert.deepEqual(server.written, ['a 1', 'b 2', 'c 4', 'd 5']);
    assert.deepEqual(server.rejected, [['BAD 3', 'unable to parse BAD 3']]);
  });

  test('413: splits until the halves fit, in order', async () => {
    const server = scripted((batch) => (batch.length > 2 ? { kind: 'too_large', message: 'too large' } : { kind: 'written' }));
    await server.delivery.deliver(lines);
    assert.deepEqual(server.written, lines);
    assert.deepEqual(server.rejected, []);
  });

  test('429: waits the longer of backoff and Retry-After, then retries the same batch', async () => {
    const server = scripted((_, call) =>
      call === 1 ? { kind: 'throttled', status: 429, retryAfterMs: 5000, message: '' } : { kind: 'written' },
    );
    await server.delivery.deliver(lines);
    assert.deepEqual(server.sleeps, [5000]);
    assert.deepEqual(server.requests, [lines, lines]);
    assert.deepEqual(server.written, lines);
  });

  test('network errors and 5xx: retries with growing backoff until written, losing nothing', async () => {
    const server = scripted((_, call) =>
      call <= 3 ? (call === 2 ? { kind: 'server_error', status: 500, message: '' } : { kind: 'network_error', message: 'ECONNREFUSED' }) : { kind: 'written' },
    );
    await server.delivery.deliver(lines);
    assert.equal(server.requests.length, 4);
    assert.ok(server.sleeps.every((ms, i) => ms >= 50 * 2 ** i && ms <= 100 * 2 ** i), String(server.sleeps));
    assert.deepEqual(server.written, lines);
  });

  test('401/404: keeps the batch and retries slowly instead of dropping it', async () => {
    const server = scripted((_, call) => (call <= 2 ? { kind: 'misconfigured', status: 401, message: 'unauthorized' } : { kind: 'written' }));
    await server.delivery.deliver(lines);
    assert.deepEqual(server.sleeps, [30_000, 30_000]);
    assert.deepEqual(server.written, lines);
    assert.deepEqual(server.rejected, []);
  });
});

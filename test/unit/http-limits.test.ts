import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { bodyOverLimit, httpServerOptions } from '../../common/http-limits.ts';

test('httpServerOptions checks the timeouts at a quarter of the shorter one, between 50 ms and 1 s', () => {
  assert.deepEqual(httpServerOptions({ requestTimeoutMs: 10_000, headersTimeoutMs: 5_000 }), {
    requestTimeout: 10_000, headersTimeout: 5_000, connectionsCheckingInterval: 1000, maxHeaderSize: 16 * 1024, keepAliveTimeout: 5_000,
  });
  assert.equal(httpServerOptions({ requestTimeoutMs: 2_000, headersTimeoutMs: 2_000 }).connectionsCheckingInterval, 500);
  assert.equal(httpServerOptions({ requestTimeoutMs: 100, headersTimeoutMs: 100 }).connectionsCheckingInterval, 50);
  assert.equal(httpServerOptions({ requestTimeoutMs: 1_000, headersTimeoutMs: 1_000, keepAliveTimeoutMs: 1, maxHeaderBytes: 2 }).maxHeaderSize, 2);
});

function fakeRequest(headers: Record<string, string>): IncomingMessage & PassThrough {
  return Object.assign(new PassThrough(), { headers }) as unknown as IncomingMessage & PassThrough;
}

test('bodyOverLimit refuses a declared length over the limit at once', () => {
  let called = 0;
  assert.equal(bodyOverLimit(fakeRequest({ 'content-length': '4097' }), 4096, () => (called += 1)), true);
  assert.equal(called, 0, 'the caller refuses; the callback is for streamed bodies');
});

test('bodyOverLimit calls back once when a streamed body passes the limit, never for one within it', async () => {
  const small = fakeRequest({});
  let smallCalls = 0;
  assert.equal(bodyOverLimit(small, 10, () => (smallCalls += 1)), false);
  small.end(Buffer.alloc(10));
  await new Promise((resolve) => small.once('end', resolve));
  assert.equal(smallCalls, 0);

  const large = fakeRequest({ 'transfer-encoding': 'chunked' });
  let largeCalls = 0;
  assert.equal(bodyOverLimit(large, 10, () => (largeCalls += 1)), false);
  large.write(Buffer.alloc(8));
  large.write(Buffer.alloc(8));
  large.end(Buffer.alloc(8));
  await new Promise((resolve) => large.once('end', resolve));
  assert.equal(largeCalls, 1);
});

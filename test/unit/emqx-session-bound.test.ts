/**
 * The ingestor's EMQX session must hold the queue it is sized for (issue 19,
 * defect 1). EMQX 5.8.6 kills a session process above 1.5 x its zone's
 * force_shutdown.max_heap_size (32MB by default: emqx_schema.erl
 * fields("force_shutdown"); emqx_utils:tune_heap_size/1), and the session's
 * whole queue goes with it. bench/emqx/session-heap.escript measured what a
 * queued message costs on that heap (OTP 25 here, 2 cores): about 530 bytes
 * held, 1.2-1.9 KB at the moment of the kill (garbage collection), i.e. the
 * default limit killed the session at 26,000-42,000 messages. These tests pin
 * base.hocon, .env and docker-compose.yml to that measurement and to what
 * docs/delivery.md says. When the ingestor reconnects, the session is taken
 * over: emqx_cm:takeover_session_begin (EMQX 5.8.6) copies the whole session,
 * queue included, into the new connection's process while the old one still
 * holds it, for up to ?T_TAKEOVER (15 s, emqx_cm.hrl): the memory peak is two
 * copies of a full queue.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** Heap bytes per queued message at the kill, the largest measured (bench/emqx/session-heap.escript). */
const PEAK_HEAP_BYTES_PER_MESSAGE = 2000;
/** Copies of the session EMQX holds at once during a takeover (the old connection's and the new one's). */
const SESSION_COPIES_AT_TAKEOVER = 2;
/** EMQX's own memory besides the ingestor's queue: a reserve, not measured here (EMQX cannot run). */
const EMQX_RESERVE_BYTES = 512 * 1024 ** 2;

const parseHocon = createRequire(import.meta.url)('@pushcorn/hocon-parser') as (options: { text: string; strict: boolean }) => Promise<Record<string, unknown>>;
type ForceShutdown = { enable?: boolean; max_heap_size?: string };
type Zone = { mqtt?: { max_mqueue_len?: number }; force_shutdown?: ForceShutdown };
const hocon = (await parseHocon({ text: read('broker/emqx/base.hocon'), strict: true })) as { zones: Record<string, Zone> };
const env = Object.fromEntries(read('.env').split('\n').filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line)).map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]));
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { mem_limit?: string; environment?: Record<string, string> }> };

/** A size as EMQX (bytesize) and compose (mem_limit) write it: 32MB, 3g, 1024. */
function bytes(size: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(size.trim());
  assert.ok(match, `not a size: ${size}`);
  return Number(match[1]) * 1024 ** ' kmg'.indexOf((match[2] || ' ').toLowerCase());
}

/** Where EMQX kills a zone's session process: 1.5 x max_heap_size, or never with force_shutdown disabled. */
function killAtBytes(zone: Zone): number {
  const policy = zone.force_shutdown ?? {};
  if (policy.enable === false) return Infinity;
  return 1.5 * bytes(policy.max_heap_size ?? '32MB');
}

describe('the ingestor\'s EMQX session (zone ingestor)', () => {
  test('its heap limit holds a full queue: the session is never killed before max_mqueue_len drops the oldest', () => {
    const zone = hocon.zones.ingestor!;
    const queue = Number(env.EMQX_INGESTOR_MAX_MQUEUE_LEN);
    assert.equal(zone.mqtt?.max_mqueue_len, queue, 'base.hocon and .env agree');
    assert.equal(compose.services.emqx?.environment?.EMQX_ZONES__INGESTOR__MQTT__MAX_MQUEUE_LEN, '${EMQX_INGESTOR_MAX_MQUEUE_LEN}');
    assert.ok(killAtBytes(zone) >= queue * PEAK_HEAP_BYTES_PER_MESSAGE, `killed at ${killAtBytes(zone)} bytes, a full queue needs ${queue * PEAK_HEAP_BYTES_PER_MESSAGE}`);
    assert.deepEqual(zone.force_shutdown, { enable: false });
  });

  test('the default limit would not: 32MB kills long before a full queue (the control)', () => {
    assert.ok(killAtBytes({}) < Number(env.EMQX_INGESTOR_MAX_MQUEUE_LEN) * PEAK_HEAP_BYTES_PER_MESSAGE);
    assert.ok(killAtBytes({}) / PEAK_HEAP_BYTES_PER_MESSAGE < 50_000, 'tens of thousands of messages');
  });

  test('devices keep EMQX\'s default protection', () => {
    for (const [name, zone] of Object.entries(hocon.zones)) if (name !== 'ingestor') assert.equal(zone.force_shutdown, undefined, name);
  });

  test('EMQX\'s memory limit in compose holds a full queue at its peak, twice (a takeover), plus a reserve', () => {
    assert.equal(compose.services.emqx?.mem_limit, '${EMQX_MEMORY_LIMIT}');
    const needed = SESSION_COPIES_AT_TAKEOVER * Number(env.EMQX_INGESTOR_MAX_MQUEUE_LEN) * PEAK_HEAP_BYTES_PER_MESSAGE + EMQX_RESERVE_BYTES;
    assert.ok(bytes(env.EMQX_MEMORY_LIMIT!) >= needed, `EMQX_MEMORY_LIMIT=${env.EMQX_MEMORY_LIMIT} < ${needed} bytes`);
  });

  test('docs/delivery.md states the bound: the queue length, the cost of a message, what the old limit held, no promise beyond', () => {
    const text = read('docs/delivery.md').replace(/\s+/g, ' ');
    assert.match(text, /force_shutdown\.max_heap_size/);
    assert.match(text, /26,000[–-]42,000 messages/);
    assert.match(text, /about 2 KB a message/);
    assert.match(text, /takeover_session_begin/);
    assert.match(text, /two full queues/);
    assert.match(text, /EMQX_MEMORY_LIMIT/);
    assert.match(text, /durable sessions/i);
  });
});

import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { decodeRecords, encodeRecord, HEADER_BYTES } from '../../ingestor/wal/record.ts';
import { Shipper } from '../../ingestor/wal/shipper.ts';
import { RecordTooLargeError, WalError, WriteAheadLog, type WalBatch } from '../../ingestor/wal/wal.ts';

function capturingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

const lineOf = (n: number): string => `m,device=d${n % 7} v=${n} ${1732280000000 + n}`;
/** Appends and checks the record was written at once (the log was not full). */
function appendNow(wal: WriteAheadLog, lines: string[]): void {
  assert.equal(wal.append(lines), undefined, 'append did not wait');
}

const segmentFiles = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.wal')).sort();

function readAll(wal: WriteAheadLog, maxLines = 1000): WalBatch[] {
  const batches: WalBatch[] = [];
  for (let batch = wal.readBatch(maxLines); batch !== undefined; batch = wal.readBatch(maxLines)) batches.push(batch);
  return batches;
}

describe('record format', () => {
  test('round-trips lines, including non-ASCII', () => {
    const lines = ['m,t=温度 v=1 1', 'm v="a\\"b" 2'];
    const buffer = Buffer.concat([encodeRecord(lines), encodeRecord(['x v=1 3'])]);
    assert.deepEqual(decodeRecords(buffer, 0, 100, 1 << 20), { records: [lines, ['x v=1 3']], end: buffer.length, stop: undefined });
  });

  test('tells a cut-short record from a damaged one', () => {
    const record = encodeRecord(['m v=1 1']);
    assert.deepEqual(decodeRecords(record.subarray(0, record.length - 1), 0, 100, 1 << 20).stop, { kind: 'incomplete', offset: 0 });
    const damaged = Buffer.from(record);
    damaged.writeUInt8(damaged.readUInt8(HEADER_BYTES + 2) ^ 0xff, HEADER_BYTES + 2);
    assert.equal(decodeRecords(damaged, 0, 100, 1 << 20).stop?.kind, 'corrupt');
  });
});

describe('WriteAheadLog', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-wal-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (options: Partial<{ maxBytes: number; segmentBytes: number }> = {}, log = pino({ level: 'silent' })): WriteAheadLog =>
    WriteAheadLog.open({ dir, maxBytes: options.maxBytes ?? 64 << 20, segmentBytes: options.segmentBytes ?? 4096, syncIntervalMs: 0 }, log);

  test('hands records out in append order, in batches that never span two segments', () => {
    const wal = open();
    for (let n = 0; n < 500; n += 1) appendNow(wal, [lineOf(n)]);
    const batches = readAll(wal, 64);
    assert.deepEqual(batches.flatMap((b) => b.lines), Array.from({ length: 500 }, (_, n) => lineOf(n)));
    assert.ok(batches.every((b) => b.lines.length <= 64));
    assert.ok(new Set(batches.map((b) => b.segmentId)).size > 1, 'several segments were used');
    wal.close();
  });

  test('deletes a segment only once it is sealed, fully read and every batch from it confirmed', () => {
    const wal = open();
    for (let n = 0; n < 500; n += 1) appendNow(wal, [lineOf(n)]);
    const before = segmentFiles(dir);
    const batches = readAll(wal, 64);
    assert.deepEqual(segmentFiles(dir), before, 'nothing deleted before confirmation');
    const [first, ...rest] = batches;
    for (const batch of rest) wal.confirm(batch);
    assert.ok(segmentFiles(dir).includes(before[0]!), 'the first segment waits for its unconfirmed batch');
    wal.confirm(first!);
    assert.deepEqual(segmentFiles(dir), [before.at(-1)], 'only the active segment is left');
    wal.close();
  });

  test('replays at the next start whatever was not confirmed, even if it was read', () => {
    const first = open();
    for (let n = 0; n < 300; n += 1) appendNow(first, [lineOf(n)]);
    const batches = readAll(first, 50);
    const confirmed = batches.filter((b) => b.segmentId === batches[0]!.segmentId);
    for (const batch of confirmed) first.confirm(batch);
    first.close();

    const { log, lines } = capturingLog();
    const second = open({}, log);
    const replayed = readAll(second).flatMap((b) => b.lines);
    const firstSegmentLines = new Set(confirmed.flatMap((b) => b.lines));
    assert.deepEqual(replayed, Array.from({ length: 300 }, (_, n) => lineOf(n)).filter((line) => !firstSegmentLines.has(line)));
    assert.ok(lines.some((l) => /replaying them first/.test(String(l.msg))));
    assert.deepEqual(second.replay, { doneBytes: second.replay.totalBytes, totalBytes: second.replay.totalBytes });
    second.close();
  });

  test('cuts a torn write off the newest segment and keeps every record before it', () => {
    const wal = open({ segmentBytes: 1 << 20 });
    for (let n = 0; n < 10; n += 1) appendNow(wal, [lineOf(n)]);
    wal.close();
    const [segment] = segmentFiles(dir);
    const path = join(dir, segment!);
    const whole = statSync(path).size;
    appendFileSync(path, encodeRecord([lineOf(10)]).subarray(0, 12)); // a crash mid-write

    const { log, lines } = capturingLog();
    const reopened = open({ segmentBytes: 1 << 20 }, log);
    assert.equal(statSync(path).size, whole);
    assert.deepEqual(readAll(reopened).flatMap((b) => b.lines), Array.from({ length: 10 }, (_, n) => lineOf(n)));
    const warning = lines.find((l) => /torn write/.test(String(l.msg)));
    assert.equal(warning?.cutBytes, 12);
    reopened.close();
  });

  test('skips the damaged rest of a segment loudly and goes on with the next', () => {
    const wal = open({ segmentBytes: 1024 });
    for (let n = 0; n < 100; n += 1) appendNow(wal, [lineOf(n)]);
    wal.close();
    const [firstSegment] = segmentFiles(dir);
    const path = join(dir, firstSegment!);
    const bytes = readFileSync(path);
    const record = encodeRecord([lineOf(0)]);
    const at = record.length * 3 + HEADER_BYTES + 1; // inside the 4th record
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    writeFileSync(path, bytes);

    const { log, lines } = capturingLog();
    const reopened = open({ segmentBytes: 1024 }, log);
    const replayed = readAll(reopened).flatMap((b) => b.lines);
    assert.deepEqual(replayed.slice(0, 3), [lineOf(0), lineOf(1), lineOf(2)]);
    assert.ok(replayed.includes(lineOf(99)), 'later segments are still read');
    assert.ok(!replayed.includes(lineOf(3)));
    assert.ok(lines.some((l) => /damaged/.test(String(l.msg)) && l.error === 'checksum mismatch'));
    reopened.close();
  });

  test('when full, append waits (no acknowledgement) until confirmed segments free space, in order', async () => {
    const wal = open({ maxBytes: 8192, segmentBytes: 2048 });
    let n = 0;
    while (wal.append([lineOf(n)]) === undefined) n += 1;
    // the append that returned a promise is queued, not written
    assert.equal(wal.full, true);
    const waiting = [n];
    const more = wal.append([lineOf(n + 1)]);
    assert.ok(more instanceof Promise, 'later appends queue behind the waiting one');
    waiting.push(n + 1);
    let settled = false;
    void more.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(settled, false);

    const batches = readAll(wal, 10_000);
    for (const batch of batches) wal.confirm(batch);
    await more;
    assert.equal(wal.full, false);
    assert.deepEqual(readAll(wal, 10_000).flatMap((b) => b.lines), waiting.map(lineOf));
    wal.close();
  });

  test('an append waiting for room is dropped, unwritten, when its signal aborts (its MQTT connection closed); the rest keep their order', async () => {
    const wal = open({ maxBytes: 8192, segmentBytes: 2048 });
    let n = 0;
    while (wal.append([lineOf(n)]) === undefined) n += 1;
    // n found the log full: it waits, unbound to any connection.
    const oldConnection = new AbortController();
    const stale = wal.append([lineOf(n + 1)], oldConnection.signal);
    const kept = wal.append([lineOf(n + 2)]);
    assert.ok(stale instanceof Promise && kept instanceof Promise);
    oldConnection.abort(new Error('the connection closed'));
    await assert.rejects(stale, /the connection closed/);
    const dead = wal.append([lineOf(n + 3)], oldConnection.signal);
    await assert.rejects(dead ?? Promise.resolve(), /the connection closed/, 'already aborted: refused at once, never written');

    const before = readAll(wal, 10_000);
    for (const batch of before) wal.confirm(batch);
    await kept;
    assert.deepEqual(readAll(wal, 10_000).flatMap((b) => b.lines), [lineOf(n), lineOf(n + 2)], 'n + 1 and n + 3 never written');
    // A record that went in is untouched by a later abort of its signal.
    const live = new AbortController();
    assert.equal(wal.append([lineOf(n + 4)], live.signal), undefined);
    live.abort(new Error('closed later'));
    assert.deepEqual(readAll(wal, 10_000).flatMap((b) => b.lines), [lineOf(n + 4)]);
    wal.close();
  });

  test('stopTaking (shutdown): appends waiting for room are rejected, later ones go in only if they fit at once', async () => {
    const wal = open({ maxBytes: 8192, segmentBytes: 2048 });
    let n = 0;
    let first: Promise<void> | undefined;
    while ((first = wal.append([lineOf(n)])) === undefined) n += 1;
    const second = wal.append([lineOf(n + 1)]);
    assert.ok(second instanceof Promise);
    wal.stopTaking('the ingestor is stopping');
    await assert.rejects(first, /the ingestor is stopping/);
    await assert.rejects(second, /the ingestor is stopping/);
    await assert.rejects(wal.append([lineOf(n + 2)]) ?? Promise.resolve(), /the ingestor is stopping/, 'no room: refused at once, never queued');
    // Room again (confirmed segments deleted): a record that fits goes in, as held presence does at shutdown.
    for (const batch of readAll(wal, 10_000)) wal.confirm(batch);
    assert.equal(wal.append([lineOf(n + 3)]), undefined);
    assert.deepEqual(readAll(wal, 10_000).flatMap((b) => b.lines), [lineOf(n + 3)]);
    wal.close();
  });

  test('refuses a record larger than a segment with RecordTooLargeError, leaving the log usable', () => {
    const wal = open({ segmentBytes: 1024 });
    assert.throws(() => wal.append(['x'.repeat(2000)]), RecordTooLargeError);
    appendNow(wal, [lineOf(1)]);
    assert.deepEqual(readAll(wal).flatMap((b) => b.lines), [lineOf(1)]);
    wal.close();
  });

  test('an unusable directory is a WalError saying what failed (the caller names the setting)', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    assert.throws(() => WriteAheadLog.open({ dir: join(file, 'wal'), maxBytes: 1 << 20, syncIntervalMs: 0 }, pino({ level: 'silent' })), (error: unknown) => {
      assert.ok(error instanceof WalError);
      assert.match(error.message, /^cannot create the directory \((ENOTDIR|EEXIST)\)$/);
      return true;
    });
  });
});

describe('Shipper', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-shipper-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Delivers into `shipped`, at most `concurrency` at a time, telling the test after each batch. */
  function recordingDeliver() {
    const shipped: string[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let onShipped: () => void = () => {};
    const deliver = async (lines: string[]): Promise<void> => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      shipped.push(lines);
      inFlight -= 1;
      onShipped();
    };
    const until = (batches: number): Promise<void> =>
      new Promise((resolve) => {
        onShipped = () => shipped.length >= batches && resolve();
        onShipped();
      });
    return { shipped, deliver, until, maxInFlight: () => maxInFlight };
  }

  const openLog = (): WriteAheadLog => WriteAheadLog.open({ dir, maxBytes: 64 << 20, segmentBytes: 1 << 20, syncIntervalMs: 0 }, pino({ level: 'silent' }));

  test('ships full batches at once with at most `concurrency` in flight; drain() sends the partial rest and resolves once all is confirmed', async () => {
    const wal = openLog();
    const delivery = recordingDeliver();
    const shipper = new Shipper({ wal, batchSize: 10, flushIntervalMs: 3_600_000, concurrency: 2, log: pino({ level: 'silent' }), deliver: delivery.deliver });
    shipper.start();
    for (let n = 0; n < 45; n += 1) appendNow(wal, [lineOf(n)]);
    await delivery.until(4);
    assert.deepEqual(delivery.shipped.map((b) => b.length), [10, 10, 10, 10], 'full batches go at once');
    assert.equal(wal.unreadLines, 5, 'the partial batch waits for the flush interval');
    await shipper.drain();
    assert.deepEqual(delivery.shipped.flat(), Array.from({ length: 45 }, (_, n) => lineOf(n)));
    assert.equal(delivery.maxInFlight(), 2);
    assert.equal(wal.unreadBytes, 0);
    assert.equal(wal.unconfirmedBytes, 0, 'drain() resolved only once every batch was confirmed');
    shipper.stop();
    wal.close();
  });

  test('a partial batch goes once its oldest line is flushIntervalMs old (mocked clock)', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const wal = openLog();
    const delivery = recordingDeliver();
    const shipper = new Shipper({ wal, batchSize: 10, flushIntervalMs: 150, concurrency: 2, log: pino({ level: 'silent' }), deliver: delivery.deliver });
    shipper.start();
    for (let n = 0; n < 5; n += 1) appendNow(wal, [lineOf(n)]);
    const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    await settle();
    t.mock.timers.tick(149);
    await settle();
    assert.deepEqual(delivery.shipped, [], 'not before flushIntervalMs');
    t.mock.timers.tick(1);
    await delivery.until(1);
    assert.deepEqual(delivery.shipped, [Array.from({ length: 5 }, (_, n) => lineOf(n))]);
    await shipper.drain();
    shipper.stop();
    wal.close();
  });
});

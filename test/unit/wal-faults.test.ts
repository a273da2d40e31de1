/**
 * The write-ahead log under disk faults, injected through its file-operation
 * interface (WalFs): a write(2) that stops part-way with ENOSPC, a disk of a
 * fixed size, a truncate that fails. And the checkpoint: what a restart sends
 * again. Files are real (a temporary directory); only the faults are made up.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { nodeFs, type WalFs } from '../../ingestor/wal/files.ts';
import { encodeRecord } from '../../ingestor/wal/record.ts';
import { WriteAheadLog, type WalBatch, type WalOptions } from '../../ingestor/wal/wal.ts';

function capturingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

const lineOf = (n: number): string => `m,device=d${n % 7} v=${n} ${1732280000000 + n}`;
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const segmentFiles = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.wal')).sort();
const dirBytes = (dir: string): number => readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);

function readAll(wal: WriteAheadLog, maxLines = 1000): WalBatch[] {
  const batches: WalBatch[] = [];
  for (let batch = wal.readBatch(maxLines); batch !== undefined; batch = wal.readBatch(maxLines)) batches.push(batch);
  return batches;
}

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

/** Appends and checks the record was written at once (nothing to wait for). */
function appendNow(wal: WriteAheadLog, lines: string[]): void {
  assert.equal(wal.append(lines), undefined, 'append did not wait');
}

/** Resolves on the next turn of the event loop after pending I/O callbacks and immediates. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WriteAheadLog under disk faults', () => {
  let dir: string;
  const opened: WriteAheadLog[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-wal-faults-'));
  });
  afterEach(() => {
    // Also when a test failed: a waiting append's retry timer would keep the process alive.
    for (const wal of opened.splice(0)) wal.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (options: Partial<WalOptions> = {}, log: pino.Logger = pino({ level: 'silent' })): WriteAheadLog => {
    const wal = WriteAheadLog.open({ dir, maxBytes: 64 << 20, segmentBytes: 1 << 20, syncIntervalMs: 0, appendRetryMs: 3_600_000, ...options }, log);
    opened.push(wal);
    return wal;
  };

  test('a write(2) that stops part-way with ENOSPC is cut back: not acknowledged, retried, and nothing after it is skipped or cut', async () => {
    // The disk "fills" during the 4th record: half of it is written, then ENOSPC.
    let failNext = false;
    let partialBytes = 0;
    const fs: WalFs = {
      ...nodeFs,
      write: (fd, buffer, offset, length) => {
        if (!failNext) return nodeFs.write(fd, buffer, offset, length);
        if (offset === 0) {
          partialBytes = nodeFs.write(fd, buffer, 0, length >> 1);
          return partialBytes;
        }
        throw enospc();
      },
    };
    const { log, lines } = capturingLog();
    const wal = open({ fs }, log);
    for (const n of range(0, 3)) assert.equal(wal.append([lineOf(n)]), undefined);
    const [segment] = segmentFiles(dir);
    const path = join(dir, segment!);
    const goodBytes = statSync(path).size;

    failNext = true;
    const fourth = wal.append([lineOf(3), lineOf(4)]);
    assert.ok(fourth instanceof Promise, 'the message is not acknowledged');
    let acknowledged = false;
    void fourth.then(() => (acknowledged = true));
    assert.ok(partialBytes > 0, 'the fault did write part of the record');
    assert.equal(statSync(path).size, goodBytes, 'the partial bytes were truncated off');
    assert.deepEqual(wal.appendState.kind, 'failing');
    assert.equal(wal.appendState.kind === 'failing' && wal.appendState.code, 'ENOSPC');
    // Messages behind it wait too, in order.
    const fifth = wal.append([lineOf(5)]);
    assert.ok(fifth instanceof Promise);

    // Space comes back; the retry (here: the pump a deleted segment triggers) writes both.
    failNext = false;
    const batches = readAll(wal);
    for (const batch of batches) wal.confirm(batch);
    await Promise.all([fourth, fifth]);
    assert.ok(acknowledged);
    assert.equal(wal.appendState.kind, 'open');
    const after = readAll(wal).flatMap((b) => b.lines);
    assert.deepEqual([...batches.flatMap((b) => b.lines), ...after], range(0, 6).map(lineOf), 'every record once, in order');

    // One line per state change, not per refused message.
    const stateLines = lines.filter((l) => /write-ahead log (cannot append|takes messages again)/.test(String(l.msg)));
    assert.deepEqual(stateLines.map((l) => [l.level, l.error]), [[50, 'ENOSPC'], [30, undefined]]);
    wal.close();

    // The next start finds nothing torn and replays exactly the unconfirmed records.
    const reopened = capturingLog();
    const second = open({}, reopened.log);
    assert.ok(!reopened.lines.some((l) => /torn write|damaged/.test(String(l.msg))), 'no repair needed');
    assert.deepEqual(readAll(second).flatMap((b) => b.lines), after);
    second.close();
  });

  test('deferred appends (a turn of the MQTT source): nothing on disk until endTurn(), then one write(2) for all, in order; a plain append writes them first', async () => {
    let writes = 0;
    const fs: WalFs = { ...nodeFs, write: (fd, buffer, offset, length) => ((writes += 1), nodeFs.write(fd, buffer, offset, length)) };
    const wal = open({ fs, syncIntervalMs: 1000 });
    let woken = false;
    void wal.nextAppend().then(() => (woken = true));
    for (const n of range(0, 100)) assert.equal(wal.append([lineOf(n)], undefined, true), undefined, 'taken at once');
    assert.equal(writes, 0, 'no write(2) yet');
    assert.equal(dirBytes(dir), 0);
    assert.equal(wal.unreadLines, 0, 'the reader sees nothing unwritten');
    await settle();
    assert.equal(woken, false, 'the shipper is not woken before the write');
    assert.equal(wal.endTurn(), undefined);
    assert.equal(writes, 1, 'one write(2) for the turn');
    assert.equal(dirBytes(dir), range(0, 100).reduce((sum, n) => sum + encodeRecord([lineOf(n)]).length, 0));
    // Not deferred (the stats timer, held presence): what is deferred goes first, then it.
    assert.equal(wal.append([lineOf(100)], undefined, true), undefined);
    assert.equal(wal.append([lineOf(101)]), undefined);
    assert.equal(writes, 3);
    assert.equal(wal.endTurn(), undefined, 'nothing left to write');
    assert.equal(writes, 3);
    assert.deepEqual(readAll(wal).flatMap((b) => b.lines), range(0, 102).map(lineOf));
    await settle();
    assert.equal(woken, true);
  });

  test('deferred appends that cross a segment\'s end: written before the switch, nothing lost or reordered', () => {
    const wal = open({ segmentBytes: 64 * 1024 });
    const big = (n: number): string => lineOf(n).padEnd(1000, 'x');
    for (const n of range(0, 200)) assert.equal(wal.append([big(n)], undefined, true), undefined);
    assert.equal(wal.endTurn(), undefined);
    assert.ok(segmentFiles(dir).length >= 3, `${segmentFiles(dir).length} segments`);
    assert.deepEqual(readAll(wal, 10_000).flatMap((b) => b.lines), range(0, 200).map(big));
  });

  test('the write of a turn\'s deferred records fails (ENOSPC part-way): endTurn() waits, nothing partial stays, they go first when the disk takes them; dropped if their connection closes first', async () => {
    let full = false;
    const fs: WalFs = {
      ...nodeFs,
      write: (fd, buffer, offset, length) => {
        if (!full) return nodeFs.write(fd, buffer, offset, length);
        if (offset === 0 && length > 1) return nodeFs.write(fd, buffer, 0, length >> 1);
        throw enospc();
      },
    };
    const { log, lines } = capturingLog();
    const wal = open({ fs }, log);
    for (const n of range(0, 3)) assert.equal(wal.append([lineOf(n)], undefined, true), undefined);
    assert.equal(wal.endTurn(), undefined, 'written');
    const goodBytes = dirBytes(dir);

    full = true;
    const connection = new AbortController();
    for (const n of range(3, 10)) assert.equal(wal.append([lineOf(n)], connection.signal, true), undefined, 'deferred: the disk is not asked yet');
    const turn = wal.endTurn();
    assert.ok(turn instanceof Promise, 'the turn\'s acknowledgements must wait');
    let written = false;
    void turn.then(() => (written = true));
    assert.equal(dirBytes(dir), goodBytes, 'the partial bytes were cut off');
    assert.equal(wal.appendState.kind === 'failing' && wal.appendState.code, 'ENOSPC');
    // The next turn's messages wait behind it, one by one (not deferred while the disk refuses).
    const next = wal.append([lineOf(10)], connection.signal, true);
    assert.ok(next instanceof Promise);
    assert.equal(wal.endTurn(), undefined, 'nothing deferred in this turn');

    full = false;
    for (const batch of readAll(wal)) wal.confirm(batch);
    await Promise.all([turn, next]);
    assert.ok(written);
    assert.equal(wal.appendState.kind, 'open');
    assert.deepEqual(readAll(wal).flatMap((b) => b.lines), range(3, 11).map(lineOf), 'the turn first, whole, then the next');
    assert.deepEqual(lines.filter((l) => /write-ahead log (cannot append|takes messages again)/.test(String(l.msg))).map((l) => l.error), ['ENOSPC', undefined]);

    // Refused again, and the connection closes while they wait: dropped, never written.
    full = true;
    const second = new AbortController();
    for (const n of range(11, 14)) assert.equal(wal.append([lineOf(n)], second.signal, true), undefined);
    const dropped = wal.endTurn();
    assert.ok(dropped instanceof Promise);
    second.abort(new Error('the connection closed'));
    await assert.rejects(dropped, /the connection closed/);
    full = false;
    assert.equal(wal.append([lineOf(14)], undefined, true), undefined, 'taken at once: nothing waits any more');
    assert.equal(wal.endTurn(), undefined);
    assert.deepEqual(readAll(wal).flatMap((b) => b.lines), [lineOf(14)], '11–13 never reached a reader');
    wal.close();
    const reopened = capturingLog();
    open({}, reopened.log);
    assert.ok(!reopened.lines.some((l) => /torn write|damaged/.test(String(l.msg))), 'no repair needed at the next start');
  });

  test('a truncate that fails too is retried before the next append; no junk is ever followed by a record', async () => {
    let writes = 0;
    let truncateFails = true;
    const fs: WalFs = {
      ...nodeFs,
      write: (fd, buffer, offset, length) => {
        writes += 1;
        if (writes === 3) {
          nodeFs.write(fd, buffer, offset, 5);
          throw enospc();
        }
        return nodeFs.write(fd, buffer, offset, length);
      },
      truncate: (fd, length) => {
        if (truncateFails) throw Object.assign(new Error('EIO'), { code: 'EIO' });
        nodeFs.truncate(fd, length);
      },
    };
    const wal = open({ fs, appendRetryMs: 5 });
    appendNow(wal, [lineOf(0)]);
    appendNow(wal, [lineOf(1)]);
    const third = wal.append([lineOf(2)]);
    assert.ok(third instanceof Promise);
    const [segment] = segmentFiles(dir);
    const goodBytes = encodeRecord([lineOf(0)]).length + encodeRecord([lineOf(1)]).length;
    assert.equal(statSync(join(dir, segment!)).size, goodBytes + 5, 'junk stays while truncate fails');
    // Retries fail on the truncate, so nothing lands after the junk.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(statSync(join(dir, segment!)).size, goodBytes + 5);
    truncateFails = false;
    await third;
    assert.deepEqual(readAll(wal).flatMap((b) => b.lines), [lineOf(0), lineOf(1), lineOf(2)]);
    wal.close();
    const bytes = readFileSync(join(dir, segment!));
    assert.deepEqual(bytes, Buffer.concat([encodeRecord([lineOf(0)]), encodeRecord([lineOf(1)]), encodeRecord([lineOf(2)])]));
  });

  test('a short write (fewer bytes, no error) is completed, not mistaken for a failure', () => {
    const fs: WalFs = { ...nodeFs, write: (fd, buffer, offset, length) => nodeFs.write(fd, buffer, offset, Math.min(length, 7)) };
    const wal = open({ fs });
    for (const n of range(0, 20)) assert.equal(wal.append([lineOf(n)]), undefined);
    assert.deepEqual(readAll(wal).flatMap((b) => b.lines), range(0, 20).map(lineOf));
    wal.close();
  });

  test('on a disk of fixed size: appends wait while it is full and resume by themselves once confirmed segments are deleted', async () => {
    const DISK_BYTES = 16 * 1024;
    const fs: WalFs = {
      ...nodeFs,
      write: (fd, buffer, offset, length) => {
        const room = DISK_BYTES - dirBytes(dir);
        if (room <= 0) throw enospc();
        return nodeFs.write(fd, buffer, offset, Math.min(length, room));
      },
    };
    const { log, lines } = capturingLog();
    // The log's own cap is far above the disk: only the disk says no.
    const wal = open({ fs, segmentBytes: 1 << 20, appendRetryMs: 3_600_000 }, log);
    let n = 0;
    while (wal.append([lineOf(n)]) === undefined) n += 1;
    const stuck = n;
    const waiting = [wal.append([lineOf(n + 1)]), wal.append([lineOf(n + 2)])];
    assert.ok(waiting.every((w) => w instanceof Promise), 'later appends wait behind it');
    assert.equal(wal.appendState.kind, 'failing');
    assert.ok(dirBytes(dir) <= DISK_BYTES);
    // The segment that filled the disk was sealed when the append failed, so it can go once confirmed.
    const batches = readAll(wal);
    assert.deepEqual(batches.flatMap((b) => b.lines), range(0, stuck).map(lineOf));
    for (const batch of batches) wal.confirm(batch);
    await settle();
    await Promise.all(waiting);
    assert.equal(wal.appendState.kind, 'open');
    // The record that found the disk full was never half-kept: it and those behind it follow, whole, in order.
    assert.deepEqual(readAll(wal).flatMap((b) => b.lines), [stuck, stuck + 1, stuck + 2].map(lineOf));
    assert.equal(lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('cannot append')).length, 1, 'one error line for the whole episode');
    wal.close();
  });

  test('the directory is fsynced after a segment is created and after one is deleted', () => {
    const dirSyncs: string[] = [];
    const openDirs = new Map<number, string>();
    const fs: WalFs = {
      ...nodeFs,
      open: (path, flags) => {
        const fd = nodeFs.open(path, flags);
        if (path === dir) openDirs.set(fd, path);
        return fd;
      },
      fsync: (fd) => {
        if (openDirs.has(fd)) dirSyncs.push('dir');
        nodeFs.fsync(fd);
      },
      close: (fd) => {
        openDirs.delete(fd);
        nodeFs.close(fd);
      },
      unlink: (path) => {
        dirSyncs.push(`unlink ${path.endsWith('.wal') ? 'segment' : path}`);
        nodeFs.unlink(path);
      },
    };
    const wal = open({ fs, segmentBytes: 256, checkpointIntervalMs: 3_600_000 });
    assert.deepEqual(dirSyncs, ['dir'], 'the first segment\'s creation');
    for (const n of range(0, 10)) appendNow(wal, [lineOf(n)]); // rotates at least once
    const created = segmentFiles(dir).length;
    assert.ok(created >= 2, `${created} segments`);
    assert.equal(dirSyncs.filter((s) => s === 'dir').length, created, 'one directory fsync per segment created');
    dirSyncs.length = 0;
    for (const batch of readAll(wal)) wal.confirm(batch);
    const deleted = created - segmentFiles(dir).length;
    assert.equal(deleted, created - 1, 'every sealed segment was deleted');
    assert.deepEqual(dirSyncs, Array.from({ length: deleted }, () => ['unlink segment', 'dir']).flat(), 'each deletion is followed by a directory fsync');
    wal.close();
  });
});

describe('WriteAheadLog checkpoint: what a restart sends again', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-wal-checkpoint-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (log: pino.Logger = pino({ level: 'silent' }), segmentBytes = 1 << 20): WriteAheadLog =>
    WriteAheadLog.open({ dir, maxBytes: 64 << 20, segmentBytes, syncIntervalMs: 0, checkpointIntervalMs: 3_600_000 }, log);

  test('a clean stop with everything confirmed: the next start replays nothing and says nothing about a backlog', () => {
    const first = open();
    for (const n of range(0, 100)) appendNow(first, [lineOf(n)]);
    for (const batch of readAll(first, 30)) first.confirm(batch);
    first.close();
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'confirmed.json'), 'utf8')), { segment: 1, offset: statSync(join(dir, segmentFiles(dir)[0]!)).size });

    const { log, lines } = capturingLog();
    const second = open(log);
    assert.deepEqual(readAll(second), []);
    assert.deepEqual(second.replay, { doneBytes: 0, totalBytes: 0 });
    assert.ok(!lines.some((l) => /previous run/.test(String(l.msg))), 'no "unconfirmed points" claim');
    assert.deepEqual(segmentFiles(dir), ['00000000000000000002.wal'], 'the confirmed segment is gone; only the new active one is left');
    second.close();
  });

  test('confirmations out of order: the restart resends from the oldest unconfirmed batch, nothing before it', () => {
    const first = open();
    for (const n of range(0, 100)) appendNow(first, [lineOf(n)]);
    const batches = readAll(first, 10);
    // Batches 0-2 and 5 confirmed; 3 and 4 in flight when the process stops.
    for (const i of [0, 1, 2, 5]) first.confirm(batches[i]!);
    first.close();

    const { log, lines } = capturingLog();
    const second = open(log);
    assert.deepEqual(readAll(second).flatMap((b) => b.lines), range(30, 100).map(lineOf));
    assert.ok(lines.some((l) => /holds unconfirmed points from a previous run/.test(String(l.msg))));
    second.close();
  });

  test('a crash (no close): the last checkpoint written bounds what is sent again', async () => {
    const first = WriteAheadLog.open({ dir, maxBytes: 64 << 20, segmentBytes: 1 << 20, syncIntervalMs: 0, checkpointIntervalMs: 10 }, pino({ level: 'silent' }));
    for (const n of range(0, 50)) appendNow(first, [lineOf(n)]);
    for (const batch of readAll(first, 25)) first.confirm(batch);
    await new Promise((resolve) => setTimeout(resolve, 50)); // at least one checkpoint interval
    for (const n of range(50, 60)) appendNow(first, [lineOf(n)]);
    // SIGKILL now: no close(). (The timers are unref'd; the files stay as they are.)
    const second = open();
    assert.deepEqual(readAll(second).flatMap((b) => b.lines), range(50, 60).map(lineOf));
    second.close();
    first.close();
  });

  test('a checkpoint past the end of a segment (its tail lost in a power cut) counts the whole segment as confirmed', () => {
    const first = open();
    for (const n of range(0, 10)) appendNow(first, [lineOf(n)]);
    for (const batch of readAll(first)) first.confirm(batch);
    first.close();
    // Pretend the segment lost its last record but the checkpoint survived.
    const path = join(dir, segmentFiles(dir)[0]!);
    const bytes = readFileSync(path);
    rmSync(path);
    nodeFs.mkdir(dir);
    const fd = nodeFs.open(path, 'w');
    nodeFs.write(fd, bytes, 0, bytes.length - encodeRecord([lineOf(9)]).length);
    nodeFs.close(fd);
    const second = open();
    assert.deepEqual(readAll(second), []);
    second.close();
  });

  test('an unreadable checkpoint means "nothing confirmed": everything is replayed, with a warning', () => {
    const first = open();
    for (const n of range(0, 10)) appendNow(first, [lineOf(n)]);
    for (const batch of readAll(first)) first.confirm(batch);
    first.close();
    const fd = nodeFs.open(join(dir, 'confirmed.json'), 'w');
    nodeFs.write(fd, Buffer.from('{"segment":'), 0, 11);
    nodeFs.close(fd);
    const { log, lines } = capturingLog();
    const second = open(log);
    assert.deepEqual(readAll(second).flatMap((b) => b.lines), range(0, 10).map(lineOf));
    assert.ok(lines.some((l) => /checkpoint unreadable/.test(String(l.msg))));
    second.close();
  });
});

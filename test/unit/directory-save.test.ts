/**
 * Saving the device directory (ingestor/directory/directory.ts): atomic
 * (temp file + rename), durable (fsync of the file and the directory), off
 * the event loop, never two at once; a crash mid-save leaves the old file
 * whole; a full disk (a 2 MB tmpfs) is one clear error, the service goes on
 * and the next save retries. The file is encoded piece by piece
 * (json-pieces.ts) as it is written: the same JSON, with messages handled
 * between pieces.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { jsonPieces } from '../../ingestor/directory/json-pieces.ts';
import { parseRegistry } from '../../ingestor/directory/registry.ts';
import { waitFor } from '../harness/process.ts';

const NOW = 1732279980000;
const registry = parseRegistry('d.yaml', 'devices: {}\n');
const silent = pino({ level: 'silent' });
const fleet = (directory: DeviceDirectory, count: number, prefix = 'dev'): void => {
  for (let i = 0; i < count; i += 1) directory.liveness.seen(`${prefix}-${i}`, NOW - i, NOW);
};
const savedDevices = (file: string): string[] => Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { liveness: Record<string, unknown> }).liveness);

describe('saving the device directory', () => {
  test('saves asked for while one runs are done once after it, with the newest state; no temp file is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-save-'));
    try {
      const file = join(dir, 'devices.json');
      const directory = new DeviceDirectory(registry, file, silent);
      fleet(directory, 5000);
      const first = directory.save();
      directory.liveness.seen('late-1', NOW, NOW);
      const second = directory.save();
      directory.liveness.seen('late-2', NOW, NOW);
      const third = directory.save();
      assert.equal(second, third, 'one save after the running one, shared');
      await Promise.all([first, second, third]);
      assert.equal(savedDevices(file).length, 5002);
      assert.deepEqual(readdirSync(dir), ['devices.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('messages are handled while a save is written: a device that reports after the first piece is on the disk is saved as it reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-save-pieces-'));
    try {
      const file = join(dir, 'devices.json');
      const directory = new DeviceDirectory(registry, file, silent);
      fleet(directory, 50_000);
      const saving = directory.save();
      // The event: the temp file has its first piece (25 pieces of 2,000 devices to go).
      await waitFor('the first piece in the temp file', () => (existsSync(`${file}.tmp`) && statSync(`${file}.tmp`).size > 0 ? true : undefined), 30_000, 0);
      directory.liveness.seen('dev-49999', NOW + 5000, NOW + 5000);
      await saving;
      const saved = (JSON.parse(readFileSync(file, 'utf8')) as { liveness: Record<string, unknown[]> }).liveness;
      assert.equal(saved['dev-49999']![0], NOW + 5000, 'encoded after the first piece was written, so as it was then');
      assert.equal(saved['dev-0']![0], NOW);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a crash (SIGKILL) in the middle of a save leaves the old file whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-save-crash-'));
    try {
      const file = join(dir, 'devices.json');
      const old = new DeviceDirectory(registry, file, silent);
      fleet(old, 10, 'old');
      await old.save();
      // A child that loads the file, grows the fleet to 200,000 devices and saves over and over until killed.
      const script = join(dir, 'saver.mts');
      writeFileSync(script, [
        `import { pino } from ${JSON.stringify(import.meta.resolve('pino'))};`,
        `import { DeviceDirectory } from ${JSON.stringify(join(import.meta.dirname, '../../ingestor/directory/directory.ts'))};`,
        `import { parseRegistry } from ${JSON.stringify(join(import.meta.dirname, '../../ingestor/directory/registry.ts'))};`,
        `const d = new DeviceDirectory(parseRegistry('d.yaml', 'devices: {}\\n'), ${JSON.stringify(file)}, pino({ level: 'silent' }));`,
        `for (let i = 0; i < 200000; i += 1) d.liveness.seen('new-' + i, ${NOW} - i, ${NOW});`,
        `for (;;) await d.save();`,
      ].join('\n'));
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], { stdio: ['ignore', 'ignore', 'inherit'] });
      try {
        // The event: the temp file is being written. Then the crash.
        await waitFor('the child writing its temp file', () => (existsSync(`${file}.tmp`) ? true : undefined), 30_000, 2);
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      } finally {
        child.kill('SIGKILL');
      }
      const devices = savedDevices(file);
      assert.ok(devices.length === 10 || devices.length === 200_010, `the file is one whole version: ${devices.length} devices`);
      const reloaded = new DeviceDirectory(registry, file, silent);
      assert.equal(reloaded.liveness.has('old-0'), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const root = process.getuid?.() === 0;
  test('a full disk (a 2 MB tmpfs): one clear error, the old file kept, the service goes on; the next save retries', { skip: !root && 'needs root to mount a tmpfs' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-save-full-'));
    const mount = join(dir, 'disk');
    mkdirSync(mount);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
    assert.equal(mounted.status, 0, mounted.stderr.toString());
    try {
      const file = join(mount, 'devices.json');
      const logged: Record<string, unknown>[] = [];
      const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
      const directory = new DeviceDirectory(registry, file, log);
      fleet(directory, 10, 'small');
      await directory.save();
      assert.equal(savedDevices(file).length, 10);
      fleet(directory, 40_000, 'big'); // about 4 MB of JSON: more than the disk holds
      await directory.save();
      const errors = logged.filter((line) => line.level === 50);
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, 'ENOSPC');
      assert.match(errors[0]!.msg as string, /^cannot save the learned device directory .*devices\.json \(the disk is full\): the previous file is kept, the service goes on, and the next save \(at the next tick\) tries again$/);
      assert.equal(savedDevices(file).length, 10, 'the old file is whole');
      assert.deepEqual(readdirSync(mount), ['devices.json'], 'the temp file is removed');
      // Room again (the forget rule, or a bigger disk): the next save goes through.
      directory.liveness.forget(NOW + 1, 1);
      directory.liveness.seen('back', NOW, NOW);
      await directory.save();
      assert.deepEqual(savedDevices(file), ['back']);
    } finally {
      spawnSync('umount', [mount]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the directory file in pieces (jsonPieces)', () => {
  // Names a device could send: quotes, backslashes, non-ASCII, a lone surrogate, a line separator, an
  // integer-like name (objects put those first; JSON.parse of either text is the same object), __proto__.
  const hostile = ['"quoted"', 'back\\slash', 'ünï ☃', '\ud800', 'line\u2028sep', '123', '__proto__', '', 'dev-1'];
  const locations = new Map(hostile.map((name, i) => [name, `site-${i}`]));
  const liveness = hostile.map((name, i) => [name, [i === 0 ? null : 1732279980000 + i, 1732279980000, -1, 0, 0, 'lwt', 1]] as const);
  const whole = { locations: Object.fromEntries(locations), status: {}, liveness: Object.fromEntries(liveness), troubled: ['"quoted"', 'dev-1'] };

  for (const perPiece of [1, 2, 4, 1000]) {
    test(`${perPiece} per piece: the text parses to what JSON.stringify of the whole object gives`, () => {
      const pieces = [...jsonPieces([
        { name: 'locations', members: locations },
        { name: 'status', members: new Map() },
        { name: 'liveness', members: liveness },
        { name: 'troubled', items: new Set(['"quoted"', 'dev-1']) },
      ], perPiece)];
      assert.deepEqual(JSON.parse(pieces.join('')), JSON.parse(JSON.stringify(whole)));
      assert.ok(pieces.join('').endsWith('}\n'), 'one line, as before');
      // 9 + 9 + 2 members and items: one piece per perPiece of them, and the closing one.
      assert.equal(pieces.length, Math.floor(20 / perPiece) + 1);
    });
  }

  test('without integer-like names the text is exactly JSON.stringify\'s; a value JSON cannot hold is left out (member) or null (item)', () => {
    const members = [['a', 1], ['skipped', undefined], ['b', { c: [1, 'x'] }]] as const;
    const text = [...jsonPieces([{ name: 'o', members }, { name: 'a', items: [1, undefined, 'z'] }, { name: 'empty', items: [] }], 1)].join('');
    assert.equal(text, `${JSON.stringify({ o: { a: 1, skipped: undefined, b: { c: [1, 'x'] } }, a: [1, undefined, 'z'], empty: [] })}\n`);
  });

  test('lazy: a member is read when its piece is asked for', () => {
    const map = new Map([['a', 1], ['b', 2]]);
    const pieces = jsonPieces([{ name: 'm', members: map }], 1);
    assert.equal(pieces.next().value, '{"m":{"a":1');
    map.set('b', 20);
    map.set('c', 3);
    assert.equal([...pieces].join(''), ',"b":20,"c":3}}\n');
  });

  test('perPiece must be a positive integer', () => {
    assert.throws(() => jsonPieces([], 0).next(), /perPiece must be a positive integer, got 0/);
  });
});

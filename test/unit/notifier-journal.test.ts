import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Journal, JournalError } from '../../notifier/delivery/journal.ts';
import { notificationId } from '../../notifier/grafana/payload.ts';
import { captureLog, deviceAlert, notification, tempDir } from '../harness/notifier-app.ts';

describe('Journal', () => {
  test('add writes one file per bot before resolving; a new Journal on the folder finds them in order', async () => {
    const dir = tempDir('journal-');
    try {
      const journal = Journal.open(dir.path, ['a', 'b'], captureLog().log);
      const first = notification([deviceAlert('j-1')]);
      const second = notification([deviceAlert('j-2')]);
      assert.deepEqual(await journal.add([{ bot: 'a', id: notificationId(first), notification: first }, { bot: 'b', id: notificationId(first), notification: first }], 1000), { added: 2, duplicates: 0 });
      await journal.add([{ bot: 'a', id: notificationId(second), notification: second }], 1001);
      assert.equal(readdirSync(join(dir.path, 'queue', 'a')).length, 2);
      const reopened = Journal.open(dir.path, ['a', 'b'], captureLog().log);
      assert.deepEqual(reopened.pending('a').map((job) => job.notification.alerts[0]?.labels.device), ['j-1', 'j-2']);
      assert.deepEqual(reopened.pending('b').map((job) => job.notification.alerts[0]?.labels.device), ['j-1']);
    } finally {
      dir.remove();
    }
  });

  test('a duplicate id is skipped while queued and accepted again once delivered', async () => {
    const dir = tempDir('journal-');
    try {
      const journal = Journal.open(dir.path, ['a'], captureLog().log);
      const n = notification([deviceAlert('dup')]);
      const entry = { bot: 'a', id: notificationId(n), notification: n };
      await journal.add([entry], 1);
      assert.deepEqual(await journal.add([entry], 2), { added: 0, duplicates: 1 });
      await journal.remove('a', journal.pending('a'));
      assert.deepEqual(readdirSync(join(dir.path, 'queue', 'a')), []);
      assert.deepEqual(await journal.add([entry], 3), { added: 1, duplicates: 0 });
    } finally {
      dir.remove();
    }
  });

  test('a duplicate arriving while the first copy is being written is acknowledged only if that write succeeds', async () => {
    const dir = tempDir('journal-');
    try {
      const journal = Journal.open(dir.path, ['a'], captureLog().log);
      // Break the bot's folder: every write into it fails.
      rmSync(join(dir.path, 'queue', 'a'), { recursive: true });
      writeFileSync(join(dir.path, 'queue', 'a'), '');
      const n = notification([deviceAlert('racing')]);
      const entry = { bot: 'a', id: notificationId(n), notification: n };
      const results = await Promise.allSettled([journal.add([entry], 1), journal.add([entry], 2)]);
      assert.deepEqual(results.map((result) => result.status), ['rejected', 'rejected']);
      assert.equal(journal.size('a'), 0);
    } finally {
      dir.remove();
    }
  });

  test('bury moves a notification to dead/ with its reason; leftover .tmp files (never acknowledged) are removed at open', async () => {
    const dir = tempDir('journal-');
    try {
      const journal = Journal.open(dir.path, ['a'], captureLog().log);
      const n = notification([deviceAlert('dead')]);
      await journal.add([{ bot: 'a', id: notificationId(n), notification: n }], 1);
      await journal.bury('a', journal.pending('a'), 'signature: errcode 310000: sign not match');
      const [file] = readdirSync(join(dir.path, 'dead', 'a'));
      assert.ok(file !== undefined);
      assert.equal((JSON.parse(readFileSync(join(dir.path, 'dead', 'a', file), 'utf8')) as { reason: string }).reason, 'signature: errcode 310000: sign not match');
      writeFileSync(join(dir.path, 'queue', 'a', '000000000000009-000000001-x.json.tmp'), '{"partial');
      Journal.open(dir.path, ['a'], captureLog().log);
      assert.deepEqual(readdirSync(join(dir.path, 'queue', 'a')), []);
    } finally {
      dir.remove();
    }
  });

  test('queues of bots no longer configured are reported', async () => {
    const dir = tempDir('journal-');
    try {
      const journal = Journal.open(dir.path, ['old'], captureLog().log);
      const n = notification([deviceAlert('orphan')]);
      await journal.add([{ bot: 'old', id: notificationId(n), notification: n }], 1);
      const logs = captureLog();
      Journal.open(dir.path, ['new'], logs.log);
      assert.ok(logs.lines().some((line) => line.bot === 'old' && line.queued === 1 && String(line.msg).includes('no longer configured')));
    } finally {
      dir.remove();
    }
  });

  test('an unusable folder is a JournalError naming the folder and why (main.ts adds NOTIFIER_QUEUE_DIR)', () => {
    const dir = tempDir('journal-');
    try {
      // A path under a regular file. (Not /proc: recursive mkdirSync spins forever there on Node 20.)
      const file = join(dir.path, 'a-file');
      writeFileSync(file, '');
      assert.throws(
        () => Journal.open(join(file, 'queue'), ['a'], captureLog().log),
        (error: unknown) => error instanceof JournalError && error.message === `cannot use the folder "${join(file, 'queue')}" (ENOTDIR)`,
      );
    } finally {
      dir.remove();
    }
  });
});

/**
 * The durable queue: one JSON file per (notification, bot) under
 * `<dir>/queue/<bot>/`, written to a temporary name, fsync'd, renamed, and the
 * folder fsync'd, before the webhook is answered 2xx. A file is deleted only
 * after the platform confirmed delivery (errcode/code 0), so after a crash or
 * SIGKILL the folder holds exactly what may still be undelivered: at-least-once
 * delivery (a crash between "delivered" and the delete repeats one message).
 * Files that can never be delivered move to `<dir>/dead/<bot>/` with the reason.
 *
 * File names sort in arrival order: `<receivedAt ms>-<sequence>-<id>.json`.
 * The id is stable for a notification's content (see notificationId), so a
 * notification Grafana re-sends while the first copy is still queued is queued once.
 */
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GrafanaNotification } from '../grafana/payload.ts';

export interface Job {
  readonly id: string;
  readonly bot: string;
  readonly receivedAt: number;
  readonly notification: GrafanaNotification;
  /** File name inside the bot's queue folder. */
  readonly file: string;
}

/** The journal's own words (no variable names: main.ts says which setting the folder came from). */
export class JournalError extends Error {
  override readonly name = 'JournalError';
}

const folderProblem = (path: string, error: unknown): JournalError =>
  new JournalError(`cannot use the folder ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);

async function writeDurably(path: string, data: string): Promise<void> {
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class Journal {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #pending = new Map<string, Job[]>();
  /** Ids queued or being written, per bot: the duplicate check. */
  readonly #ids = new Map<string, Set<string>>();
  readonly #listeners = new Map<string, () => void>();
  /** Writes in progress by `bot/id`: a duplicate arriving meanwhile is durable only when the first copy is. */
  readonly #writing = new Map<string, Promise<void>>();
  #sequence = 0;

  private constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /** Opens (creating) the folders and loads what a previous run left queued. Throws JournalError. */
  static open(dir: string, bots: readonly string[], log: Logger): Journal {
    try {
      mkdirSync(join(dir, 'queue'), { recursive: true });
    } catch (error) {
      throw folderProblem(dir, error);
    }
    const journal = new Journal(dir, log);
    for (const bot of bots) journal.#load(bot);
    journal.#warnAboutOrphans(bots);
    return journal;
  }

  queueDir(bot: string): string {
    return join(this.#dir, 'queue', bot);
  }

  deadDir(bot: string): string {
    return join(this.#dir, 'dead', bot);
  }

  /** Queues of bots no longer configured are left alone, but not silently. */
  #warnAboutOrphans(bots: readonly string[]): void {
    const root = join(this.#dir, 'queue');
    for (const name of readdirSync(root)) {
      if (bots.includes(name)) continue;
      const waiting = readdirSync(join(root, name)).filter((file) => file.endsWith('.json')).length;
      if (waiting > 0) {
        this.#log.warn({ bot: name, queued: waiting, folder: join(root, name) }, 'notifications are queued for a bot that is no longer configured; they are not sent');
      }
    }
  }

  #load(bot: string): void {
    const folder = this.queueDir(bot);
    let names: string[];
    try {
      mkdirSync(folder, { recursive: true });
      mkdirSync(this.deadDir(bot), { recursive: true });
      names = readdirSync(folder).sort();
    } catch (error) {
      throw folderProblem(this.#dir, error);
    }
    const jobs: Job[] = [];
    const ids = new Set<string>();
    for (const name of names) {
      const path = join(folder, name);
      if (name.endsWith('.tmp')) {
        // Never renamed: the webhook was not answered 2xx, so Grafana sends it again.
        unlinkSync(path);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const stored = JSON.parse(readFileSync(path, 'utf8')) as Omit<Job, 'file'>;
        jobs.push({ ...stored, file: name });
        ids.add(stored.id);
      } catch (error) {
        this.#log.error({ file: path, error: (error as Error).message }, 'unreadable queue file left in place; move it away or delete it');
      }
    }
    this.#pending.set(bot, jobs);
    this.#ids.set(bot, ids);
    if (jobs.length > 0) this.#log.info({ bot, queued: jobs.length }, 'notifications queued by a previous run will be delivered');
  }

  /** Called when a job is added for `bot` (one listener per bot: its worker). */
  onAdded(bot: string, listener: () => void): void {
    this.#listeners.set(bot, listener);
  }

  pending(bot: string): readonly Job[] {
    return this.#pending.get(bot) ?? [];
  }

  size(bot: string): number {
    return this.pending(bot).length;
  }

  /**
   * Makes each notification durable in its bot's queue; resolves once all are
   * on disk. A notification whose id is already queued for that bot is skipped.
   */
  async add(entries: readonly { readonly bot: string; readonly id: string; readonly notification: GrafanaNotification }[], now: number): Promise<{ added: number; duplicates: number }> {
    const fresh: Job[] = [];
    const earlierWrites: Promise<void>[] = [];
    let duplicates = 0;
    for (const entry of entries) {
      const ids = this.#ids.get(entry.bot);
      if (ids === undefined) throw new JournalError(`no queue for bot ${entry.bot}`);
      if (ids.has(entry.id)) {
        duplicates += 1;
        const pending = this.#writing.get(`${entry.bot}/${entry.id}`);
        if (pending !== undefined) earlierWrites.push(pending);
        continue;
      }
      ids.add(entry.id);
      this.#sequence += 1;
      const file = `${String(now).padStart(15, '0')}-${String(this.#sequence).padStart(9, '0')}-${entry.id}.json`;
      fresh.push({ id: entry.id, bot: entry.bot, receivedAt: now, notification: entry.notification, file });
    }
    const write = this.#write(fresh);
    for (const job of fresh) this.#writing.set(`${job.bot}/${job.id}`, write);
    try {
      await write;
    } finally {
      for (const job of fresh) this.#writing.delete(`${job.bot}/${job.id}`);
    }
    for (const job of fresh) this.#pending.get(job.bot)?.push(job);
    for (const bot of new Set(fresh.map((job) => job.bot))) this.#listeners.get(bot)?.();
    // A failed earlier write rejects here too: this copy is then not acknowledged either.
    await Promise.all(earlierWrites);
    return { added: fresh.length, duplicates };
  }

  async #write(fresh: readonly Job[]): Promise<void> {
    try {
      await Promise.all(fresh.map((job) => writeDurably(join(this.queueDir(job.bot), job.file), JSON.stringify({ id: job.id, bot: job.bot, receivedAt: job.receivedAt, notification: job.notification }))));
      await Promise.all([...new Set(fresh.map((job) => job.bot))].map((bot) => syncDirectory(this.queueDir(bot))));
    } catch (error) {
      for (const job of fresh) {
        this.#ids.get(job.bot)?.delete(job.id);
        await unlink(join(this.queueDir(job.bot), job.file)).catch(() => undefined);
      }
      throw error;
    }
  }

  #forget(bot: string, jobs: readonly Job[]): void {
    const files = new Set(jobs.map((job) => job.file));
    this.#pending.set(bot, this.pending(bot).filter((job) => !files.has(job.file)));
    for (const job of jobs) this.#ids.get(bot)?.delete(job.id);
  }

  /** Delivered: delete the files. */
  async remove(bot: string, jobs: readonly Job[]): Promise<void> {
    this.#forget(bot, jobs);
    await Promise.all(jobs.map((job) => unlink(join(this.queueDir(bot), job.file)).catch(() => undefined)));
  }

  /** Undeliverable: keep the notification and the reason in dead/<bot>/, out of the queue. */
  async bury(bot: string, jobs: readonly Job[], reason: string): Promise<void> {
    for (const job of jobs) {
      const record = { id: job.id, bot, receivedAt: job.receivedAt, reason, notification: job.notification };
      await writeDurably(join(this.deadDir(bot), job.file), JSON.stringify(record));
    }
    await this.remove(bot, jobs);
  }
}

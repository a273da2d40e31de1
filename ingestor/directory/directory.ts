/**
 * The device directory: what the pipeline knows about each device, from the
 * registry file (authoritative) and from what it learned on the way (the
 * location in a device's telemetry topic). Presence events carry no location,
 * so this is where a `device_presence` point gets its `location` and `group`.
 *
 * It also remembers the last state each device's status topic said (online
 * or offline, and when): after a restart the broker re-sends every retained
 * status, and this is how the pipeline tells a repeat from news.
 *
 * And it keeps the liveness book (liveness/book.ts): each device's newest
 * message and presence state, with since when, so that a restart keeps every
 * duration `device_state` reports.
 *
 * All are kept in a JSON file, at most once a second after a location or
 * status changes, at every `device_state` tick (the liveness book: newest
 * messages move it all the time, so it is not saved per message) and at
 * close. A crash loses at most the last second of what was learned, and the
 * newest-message times of the last tick interval (they come back with the
 * devices' next messages).
 *
 * A save (`save()`) never blocks the event loop on the disk (a fleet of
 * 100,000 devices is a file of 9-12 MB, with the names): the file is written through
 * fs/promises, and encoded piece by piece as it is written
 * (json-pieces.ts), so messages are handled between pieces; it is atomic
 * (a temp file, then rename: a crash mid-save leaves the old file whole)
 * and durable (the temp file is fsynced before
 * the rename and the directory after it, so the rename survives a power
 * cut); never two at once (a save asked for while one runs is done once
 * after it, with what is known then). A failed save (a full disk, a
 * read-only volume) is one error log line naming the file and the cause;
 * the temp file is removed, the old file stays, the service goes on and
 * the next save tries again.
 *
 * And it keeps who was in trouble at the last `device_state` tick
 * (`troubled`, written by liveness/ticker.ts), so that a device that leaves
 * trouble while the ingestor is down still gets its "left trouble"
 * `device_trouble` point at the first tick after the restart, and its alert
 * resolves at the next evaluation instead of when its series goes stale.
 *
 * The file's format: `{ liveness, locations, status, troubled }` (the order
 * of the save; a load takes any);
 * `liveness` maps a device to `[lastSeenMs (null: none), firstSeenMs, online (1, 0, -1
 * unknown), sinceMs, presenceAtMs, source, ownData (1, 0)]`. A file from
 * before liveness (no `liveness` key) loads as it is: each device with a
 * known status starts with that status, since and last seen at its time
 * (source `lwt`); a device known only by its location enters the book with
 * its next message. An entry without `ownData` (written before it existed)
 * has it unless its presence source is EMQX: such a device's next message
 * of its own sets it. `troubled` lists device names; a file without it (from
 * before it) loads with nobody in trouble.
 *
 * A device name or location that line protocol cannot carry (a control
 * character: the pipeline never learns one, an older version could) is
 * dropped on load with a warning, so that it cannot reach a `device_state`
 * point again.
 */
import { readFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { LivenessBook, type LivenessEntry, type LivenessSource } from '../liveness/book.ts';
import { isWritableTag, type DeviceStateTags } from '../liveness/to-point.ts';
import { jsonPieces } from './json-pieces.ts';
import type { DeviceEntry, Registry } from './registry.ts';

export const UNKNOWN = 'unknown';

/** Devices (or locations, statuses) encoded between two yields to the event loop while the file is written. */
const SAVE_PIECE = 2000;

/** What a device's status topic said last. */
export interface KnownStatus {
  readonly online: boolean;
  /** The time of that state (the payload's, or when it was received). */
  readonly atMs: number;
}

export interface DirectoryTags {
  readonly location: string;
  readonly group: string;
  /** type and the registry's extra tags. */
  readonly extra: Readonly<Record<string, string>>;
}

export class DeviceDirectory {
  readonly #registry: Registry;
  readonly #learned = new Map<string, string>();
  readonly #status = new Map<string, KnownStatus>();
  readonly #file: string | undefined;
  readonly #log: Logger;
  #saveTimer: NodeJS.Timeout | undefined;
  /** The save running now, if any. */
  #saving: Promise<void> | undefined;
  /** A save was asked for while one ran: done once after it. */
  #saveAgain: Promise<void> | undefined;
  /** Every device that has sent anything, and what the data says about it. */
  readonly liveness = new LivenessBook();
  /** The devices in trouble at the last written `device_state` tick (the ticker sets it; saved with the book). */
  troubled: ReadonlySet<string> = new Set<string>();

  constructor(registry: Registry, learnedFile: string | undefined, log: Logger) {
    this.#registry = registry;
    this.#file = learnedFile;
    this.#log = log;
    if (learnedFile !== undefined) this.#load(learnedFile);
  }

  get strict(): boolean {
    return this.#registry.strict;
  }

  isKnown(device: string): boolean {
    return this.#registry.devices.has(device);
  }

  /** Whether a device's location is known (registry or learned): its points will not say "unknown". */
  hasLocation(device: string): boolean {
    return this.#registry.devices.get(device)?.location !== undefined || this.#learned.has(device);
  }

  /** The registry (DEVICES_FILE) gives the device's location. */
  hasRegistryLocation(device: string): boolean {
    return this.#registry.devices.get(device)?.location !== undefined;
  }

  /** Remembers where a device publishes from; the registry's location, if any, still wins. */
  learnLocation(device: string, location: string): void {
    if (this.#learned.get(device) === location) return;
    this.#learned.set(device, location);
    this.#scheduleSave();
  }

  lastStatus(device: string): KnownStatus | undefined {
    return this.#status.get(device);
  }

  /** Remembers what a device's status topic said; call once its point (if any) is in the log. */
  rememberStatus(device: string, status: KnownStatus): void {
    const known = this.#status.get(device);
    if (known?.online === status.online && known.atMs === status.atMs) return;
    this.#status.set(device, { online: status.online, atMs: status.atMs });
    this.#scheduleSave();
  }

  /** Where the device is, for `device_state`: only what is known (no "unknown" placeholder). */
  whereIs(device: string): DeviceStateTags {
    const entry = this.#registry.devices.get(device);
    return { location: entry?.location ?? this.#learned.get(device), group: entry?.group };
  }

  /**
   * Removes what was learned about a device (location, status; the caller
   * took it out of the liveness book): the forget rule. The registry's entry,
   * if any, stays: it is a file the user owns.
   */
  forgetLearned(device: string): void {
    this.#learned.delete(device);
    this.#status.delete(device);
    this.#scheduleSave();
  }

  /** Tags for a device's points: location and group always present ("unknown" when not known). */
  tagsFor(device: string): DirectoryTags {
    const entry: DeviceEntry | undefined = this.#registry.devices.get(device);
    return {
      location: entry?.location ?? this.#learned.get(device) ?? UNKNOWN,
      group: entry?.group ?? UNKNOWN,
      extra: { ...(entry?.type !== undefined && { type: entry.type }), ...entry?.tags },
    };
  }

  #load(file: string): void {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const parsed = JSON.parse(content) as { locations?: Record<string, unknown>; status?: Record<string, unknown>; liveness?: Record<string, unknown>; troubled?: unknown };
      const unwritable = new Set<string>();
      const writable = (device: string, location?: string): boolean => {
        if (isWritableTag(device) && (location === undefined || isWritableTag(location))) return true;
        unwritable.add(device);
        return false;
      };
      for (const [device, location] of Object.entries(parsed.locations ?? {})) {
        if (typeof location === 'string' && location !== '' && writable(device, location)) this.#learned.set(device, location);
      }
      for (const [device, status] of Object.entries(parsed.status ?? {})) {
        const { online, atMs } = (status ?? {}) as Record<string, unknown>;
        if (typeof online === 'boolean' && typeof atMs === 'number' && Number.isFinite(atMs) && writable(device)) this.#status.set(device, { online, atMs });
      }
      if (parsed.liveness === undefined) {
        // A file from before liveness: what the status topics said is all there is.
        for (const [device, status] of this.#status) {
          this.liveness.seen(device, status.atMs, status.atMs);
          this.liveness.presence(device, status.online, status.atMs, 'lwt', status.atMs);
        }
      }
      for (const [device, saved] of Object.entries(parsed.liveness ?? {})) {
        const entry = livenessEntry(saved);
        if (entry !== undefined && writable(device)) this.liveness.restore(device, entry);
      }
      if (Array.isArray(parsed.troubled)) {
        this.troubled = new Set(parsed.troubled.filter((device): device is string => typeof device === 'string' && writable(device)));
      }
      if (unwritable.size > 0) {
        this.#log.warn({ file, devices: [...unwritable].slice(0, 10), count: unwritable.size }, 'the learned device directory names devices or locations line protocol cannot carry (a control character, an ambiguous backslash); they are dropped');
      }
    } catch (error) {
      // A damaged file costs only what it taught us; telemetry teaches it again,
      // and each retained status is recorded once more.
      this.#log.warn({ file, error: (error as Error).message }, 'the learned device directory is unreadable; starting it afresh');
    }
  }

  #scheduleSave(): void {
    if (this.#file === undefined || this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      void this.save();
    }, 1000);
    this.#saveTimer.unref();
  }

  /**
   * Saves the directory now: atomically, durably, without blocking the event
   * loop on the disk, never two at once. Resolves when the file holds what
   * was known when it was asked for (or the save failed: logged). Never
   * rejects.
   */
  save(): Promise<void> {
    if (this.#file === undefined) return Promise.resolve();
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    if (this.#saving === undefined) {
      this.#saving = this.#write(this.#file).finally(() => (this.#saving = undefined));
      return this.#saving;
    }
    // One running: one more after it, shared by every caller meanwhile.
    this.#saveAgain ??= this.#saving.then(() => {
      this.#saveAgain = undefined;
      return this.save();
    });
    return this.#saveAgain;
  }

  async #write(file: string): Promise<void> {
    const temporary = `${file}.tmp`;
    try {
      await mkdir(dirname(file), { recursive: true });
      const handle = await open(temporary, 'w');
      try {
        // Encoded as it is written, SAVE_PIECE devices at a time, with messages handled between pieces: at
        // 100,000 devices the file in one go held the event loop for 0.23-0.5 s (a copy, then JSON.stringify).
        // Each device's entry is read in one go, so it is whole; entries of two devices may be read a
        // moment apart (no entry depends on another), and a device added meanwhile is in this save or the next
        // (one forgotten and seen again meanwhile may be in it twice: JSON.parse keeps the later, newer one).
        // The book first: a device forgotten meanwhile then cannot be left in the file with a location and a
        // status but no book entry (forgetting walks the book, so nothing would ever remove them).
        const pieces = jsonPieces([
          { name: 'liveness', members: map(this.liveness.entries(), ([device, entry]) => [device, savedLiveness(entry)] as const) },
          { name: 'locations', members: this.#learned },
          { name: 'status', members: this.#status },
          { name: 'troubled', items: this.troubled },
        ], SAVE_PIECE);
        for (const piece of pieces) await handle.writeFile(piece);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
      await syncDirectory(dirname(file));
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      const code = (error as NodeJS.ErrnoException).code;
      this.#log.error({ file, error: (error as Error).message, code },
        `cannot save the learned device directory ${file}${code === 'ENOSPC' ? ' (the disk is full)' : ''}: the previous file is kept, the service goes on, and the next save (at the next tick) tries again`);
    }
  }
}

function* map<T, U>(values: Iterable<T>, mapping: (value: T) => U): Generator<U> {
  for (const value of values) yield mapping(value);
}

/** fsync of a directory, so that a rename in it survives a power cut (a no-op where directories cannot be opened, e.g. Windows). */
async function syncDirectory(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A liveness entry as the file keeps it (compact: a fleet of 100,000 devices is saved at every tick). */
type SavedLiveness = [lastSeenMs: number | null, firstSeenMs: number, online: 1 | 0 | -1, sinceMs: number, presenceAtMs: number, source: LivenessSource, ownData: 1 | 0];

const SOURCES: readonly LivenessSource[] = ['emqx', 'lwt', 'sparkplug', 'none'];

function savedLiveness(entry: Readonly<LivenessEntry>): SavedLiveness {
  return [entry.lastSeenMs ?? null, entry.firstSeenMs, entry.online === undefined ? -1 : entry.online ? 1 : 0, entry.sinceMs, entry.presenceAtMs, entry.source, entry.ownData ? 1 : 0];
}

/** A saved entry back, or undefined when it is damaged (that device then starts afresh with its next message). */
function livenessEntry(saved: unknown): LivenessEntry | undefined {
  if (!Array.isArray(saved) || saved.length < 6) return undefined;
  const [lastSeenMs, firstSeenMs, online, sinceMs, presenceAtMs, source, ownData] = saved as unknown[];
  const times = [firstSeenMs, sinceMs, presenceAtMs, ...(lastSeenMs === null ? [] : [lastSeenMs])];
  if (!times.every((time) => typeof time === 'number' && Number.isFinite(time))) return undefined;
  if (online !== 1 && online !== 0 && online !== -1) return undefined;
  if (!SOURCES.includes(source as LivenessSource)) return undefined;
  if (ownData !== undefined && ownData !== 1 && ownData !== 0) return undefined;
  return {
    lastSeenMs: lastSeenMs === null ? undefined : lastSeenMs as number,
    firstSeenMs: firstSeenMs as number,
    ownData: ownData === undefined ? source !== 'emqx' : ownData === 1,
    online: online === -1 ? undefined : online === 1,
    sinceMs: sinceMs as number,
    presenceAtMs: presenceAtMs as number,
    source: source as LivenessSource,
  };
}

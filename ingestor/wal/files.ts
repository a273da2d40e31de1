/**
 * The file operations the write-ahead log uses, behind one small interface so
 * that tests can inject faults (a write(2) that stops part-way with ENOSPC)
 * the real disk only produces when it is full. Synchronous on purpose: an
 * append must be in the kernel before the message is acknowledged.
 */
import {
  closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync,
  readdirSync, readFileSync, readSync, renameSync, unlinkSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface WalFs {
  /** open(2); `flags` as node:fs takes them ('a' appends, 'r' reads, 'r+' repairs, 'w' replaces). */
  open(path: string, flags: string): number;
  close(fd: number): void;
  /** One write(2): may write fewer bytes than asked, or throw (ENOSPC, EIO, …). */
  write(fd: number, buffer: Buffer, offset: number, length: number): number;
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): number;
  truncate(fd: number, length: number): void;
  datasync(fd: number): void;
  fsync(fd: number): void;
  size(fd: number): number;
  unlink(path: string): void;
  rename(from: string, to: string): void;
  list(dir: string): string[];
  mkdir(dir: string): void;
  /** The file's bytes, or undefined when it does not exist. */
  readFile(path: string): Buffer | undefined;
}

export const nodeFs: WalFs = {
  open: (path, flags) => openSync(path, flags),
  close: (fd) => closeSync(fd),
  write: (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length),
  read: (fd, buffer, offset, length, position) => readSync(fd, buffer, offset, length, position),
  truncate: (fd, length) => ftruncateSync(fd, length),
  datasync: (fd) => fdatasyncSync(fd),
  fsync: (fd) => fsyncSync(fd),
  size: (fd) => fstatSync(fd).size,
  unlink: (path) => unlinkSync(path),
  rename: (from, to) => renameSync(from, to),
  list: (dir) => readdirSync(dir),
  mkdir: (dir) => void mkdirSync(dir, { recursive: true }),
  readFile: (path) => {
    try {
      return readFileSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  },
};

/** The errno code of a file-system error (ENOSPC, EIO, …), or its message. */
export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message ?? String(error);
}

/**
 * Makes a file's creation, rename or deletion durable: without an fsync of
 * the directory, a power cut can bring back a deleted segment or lose a new
 * one even though its data was synced.
 */
export function syncDirectory(fs: WalFs, dir: string): void {
  const fd = fs.open(dir, 'r');
  try {
    fs.fsync(fd);
  } finally {
    fs.close(fd);
  }
}

/** Reads up to `length` bytes at `position`; shorter only at the end of the file. */
export function readAt(fs: WalFs, fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const n = fs.read(fd, buffer, read, length - read, position + read);
    if (n === 0) break;
    read += n;
  }
  return read === length ? buffer : buffer.subarray(0, read);
}

export function fileSize(fs: WalFs, path: string): number {
  const fd = fs.open(path, 'r');
  try {
    return fs.size(fd);
  } finally {
    fs.close(fd);
  }
}

/**
 * Writes a whole file atomically: a temporary file, fsynced, renamed over the
 * old one, and the directory fsynced. A crash leaves the old file or the new
 * one, never a mix. The temporary file is removed when any step fails.
 */
export function writeFileAtomic(fs: WalFs, dir: string, name: string, content: Buffer): void {
  const temporary = join(dir, `${name}.tmp`);
  const fd = fs.open(temporary, 'w');
  try {
    let written = 0;
    while (written < content.length) {
      const n = fs.write(fd, content, written, content.length - written);
      if (n <= 0) throw new Error(`write(2) wrote ${n} bytes`);
      written += n;
    }
    fs.fsync(fd);
  } catch (error) {
    fs.close(fd);
    try {
      fs.unlink(temporary);
    } catch {
      // nothing more to free; the original error says what went wrong
    }
    throw error;
  }
  fs.close(fd);
  fs.rename(temporary, join(dir, name));
  syncDirectory(fs, dir);
}

/**
 * Is a port free, and if not, who holds it? Linux: the listening socket's
 * inode from /proc/net/tcp{,6}, then the process whose fd points at it (only
 * our own processes are visible to a non-root user; for others we say so and
 * give the command that shows it).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/** undefined when free, else the listen error code (EADDRINUSE, EACCES, ...). */
export function portProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Inodes of sockets listening on `port` (any address), from /proc/net/tcp and tcp6. */
export function listeningInodes(port: number, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): string[] {
  const inodes: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = read(table);
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = fields;
      if (local === undefined || inode === undefined) continue;
      const hexPort = local.split(':').pop();
      if (state === '0A' && hexPort !== undefined && parseInt(hexPort, 16) === port) inodes.push(inode);
    }
  }
  return inodes;
}

/** "pid 123: /usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf", or what we can say without seeing it. */
export function portHolder(port: number): string {
  const inodes = new Set(listeningInodes(port));
  if (inodes.size === 0) return 'a process we cannot see';
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // another user's process
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match !== null && inodes.has(match[1]!)) {
        let command = '';
        try {
          command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        } catch {
          // gone meanwhile
        }
        return `pid ${entry}: ${command || '(unknown command)'}`;
      }
    }
  }
  return `another user's process (as root, \`ss -ltnp 'sport = :${port}'\` shows which)`;
}

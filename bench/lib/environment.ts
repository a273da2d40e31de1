/** What a result was measured on: machine, versions, load. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

export interface Environment {
  readonly date: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly mosquitto: string;
  readonly influxdb: string;
  readonly victoriaMetrics: string;
  readonly loadAverageAtStart: readonly number[];
}

/** The Debian package version of a service (the binaries have no common --version flag). */
function packageVersion(name: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export const loadAverage = (): number[] => loadavg().map((value) => Math.round(value * 100) / 100);

export function describeEnvironment(): Environment {
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    mosquitto: packageVersion('mosquitto'),
    influxdb: packageVersion('influxdb'),
    victoriaMetrics: packageVersion('victoria-metrics'),
    loadAverageAtStart: loadAverage(),
  };
}

/** The ingestor and the write targets, started through the test harness, wired for benchmarks. */
import { freePort } from '../../test/harness/ports.ts';
import { startIngestor, type Ingestor } from '../../test/harness/ingestor.ts';
import { waitFor } from '../../test/harness/process.ts';
import { startInflux1, startVictoria, type Influx1, type Victoria } from '../../test/harness/services.ts';

export const DATABASE = 'iot';

export type WritePath = 'v1' | 'v2';

export interface Target {
  readonly path: WritePath;
  /** InfluxDB 1.x for v1, VictoriaMetrics for v2. */
  readonly service: Influx1 | Victoria;
  readonly env: Record<string, string>;
}

export async function startTarget(path: WritePath): Promise<Target> {
  if (path === 'v1') {
    const influx = await startInflux1();
    await influx.query(`CREATE DATABASE ${DATABASE}`);
    return { path, service: influx, env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: DATABASE } };
  }
  const vm = await startVictoria();
  return { path, service: vm, env: { INFLUX_URL: vm.url, INFLUX_API: 'v2', INFLUX_ORG: 'bench', INFLUX_BUCKET: DATABASE, INFLUX_TOKEN: 'not-checked-by-victoria' } };
}

export interface BenchIngestor {
  readonly ingestor: Ingestor;
  readonly pid: number;
  readonly metricsUrl: string;
  stop(): Promise<void>;
}

/**
 * The ingestor with default settings (its log on, in a temporary working
 * directory) plus what the benchmark needs: an HTTP port for /metrics.
 * `nodeArgs` may add `--cpu-prof` for a profile.
 */
export async function startBenchIngestor(env: Record<string, string>, name: string, nodeArgs: readonly string[] = []): Promise<BenchIngestor> {
  const port = await freePort();
  // ROLLUPS back to its default (on): the test harness turns them off for tests that count points.
  const ingestor = startIngestor({ ROLLUPS: 'true', ...env, HTTP_PORT: String(port) }, name, nodeArgs);
  const pid = ingestor.process.child.pid;
  if (pid === undefined) throw new Error(`the ingestor did not start: see ${ingestor.process.logPath}`);
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  await waitFor('the ingestor\'s /metrics', async () => {
    if (ingestor.process.child.exitCode !== null) throw new Error(`the ingestor exited: see ${ingestor.process.logPath}`);
    const response = await fetch(metricsUrl);
    await response.arrayBuffer();
    return response.ok ? true : undefined;
  }, 30_000, 50);
  return {
    ingestor,
    pid,
    metricsUrl,
    async stop() {
      await ingestor.stop();
      ingestor.cleanup();
    },
  };
}

/**
 * Times one InfluxQL query as Grafana sends it: a warm-up run (and the
 * answer's size, in series), then `runs` timed runs summarized.
 */
import { runInfluxQL } from '../../test/harness/grafana-eval.ts';
import type { Influx1 } from '../../test/harness/services.ts';
import { summarize, type Summary } from './stats.ts';

export interface QueryTiming {
  readonly ms: Summary;
  readonly series: number;
}

export async function timeQuery(influx: Influx1, db: string, query: string, runs: number): Promise<QueryTiming> {
  let series = (await runInfluxQL(influx.url, db, query)).length; // warm-up, and the answer's size
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    series = (await runInfluxQL(influx.url, db, query)).length;
    samples.push(performance.now() - started);
  }
  return { ms: summarize(samples.map((ms) => Math.round(ms * 10) / 10)), series };
}

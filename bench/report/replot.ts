/**
 * Redraws the plots of a result file (after a change to the charts):
 *
 *   node --import tsx bench/report/replot.ts bench/results/DATE.json
 */
import { readFileSync } from 'node:fs';
import { plotDrain, plotLive, plotOutage } from './plots.ts';
import type { BenchResults } from './results.ts';

const file = process.argv[2];
if (file === undefined || !file.endsWith('.json')) {
  process.stderr.write('usage: replot.ts RESULTS.json\n');
  process.exit(2);
}
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
const base = file.slice(0, -'.json'.length);
for (const [plot, suffix] of [[plotDrain, 'drain'], [plotLive, 'live'], [plotOutage, 'outage']] as const) {
  if (await plot(results, `${base}-${suffix}.png`)) process.stdout.write(`plot: ${base}-${suffix}.png\n`);
}

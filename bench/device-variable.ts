/**
 * The Device variable's query at a fleet size where the whole history would
 * take too long to load (`node --import tsx bench/device-variable.ts 100000`,
 * under the shared lock): two minutes of `device_state` for N devices in 20
 * locations × 3 groups, loaded into a fresh InfluxDB 1.x, then the variable's
 * query as the dashboards send it (with its LIMIT, and without), for All
 * locations and for one, median of 5 after a warm-up. Prints one line per
 * query; docs/performance.md quotes it.
 */
import { cpus } from 'node:os';
import { placeVariables } from '../grafana/src/dashboards.ts';
import { renderPanelQuery, runInfluxQL, type VariableValue } from '../test/harness/grafana-eval.ts';
import { startInflux1 } from '../test/harness/services.ts';

const devices = Number(process.argv[2] ?? 100_000);
const GROUPS = ['production', 'gateways', 'lab'];
const influx = await startInflux1();
try {
  await influx.query('CREATE DATABASE iot');
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  for (const t of [now - 60_000, now]) {
    for (let from = 0; from < devices; from += 50_000) {
      const lines: string[] = [];
      for (let i = from; i < Math.min(devices, from + 50_000); i += 1) {
        lines.push(`device_state,device=dev-${String(i).padStart(6, '0')},group=${GROUPS[i % 3]},instance=ingestor-1,location=site-${i % 20} state="online",online=1i,offline_s=0i,silent_s=5i,last_seen=${t}i,since=${now - 3_600_000}i ${t}`);
      }
      const response = await fetch(`${influx.url}/write?db=iot&precision=ms`, { method: 'POST', body: lines.join('\n') });
      if (response.status !== 204) throw new Error(`write: HTTP ${response.status}`);
    }
  }
  const device = placeVariables.find((v) => v.name === 'device')!;
  const all: VariableValue = { values: [], all: true, allValue: '.*' };
  const cases = [
    { what: 'Device variable (LIMIT), Location and Group All', query: device.query, location: all },
    { what: 'Device variable (LIMIT), one location', query: device.query, location: { values: ['site-3'] } },
    { what: 'Device variable without LIMIT, Location and Group All', query: device.query.replace(/ LIMIT \d+$/, ''), location: all },
    { what: 'Device variable without LIMIT, one location', query: device.query.replace(/ LIMIT \d+$/, ''), location: { values: ['site-3'] } },
  ];
  for (const c of cases) {
    const rendered = renderPanelQuery(c.query, { fromMs: now - 6 * 3_600_000, toMs: now, variables: { location: c.location, group: all } });
    const values = (await runInfluxQL(influx.url, 'iot', rendered)).reduce((n, s) => n + s.values.length, 0);
    const samples: number[] = [];
    for (let run = 0; run < 5; run += 1) {
      const started = performance.now();
      await runInfluxQL(influx.url, 'iot', rendered);
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    process.stdout.write(`${devices} devices: ${c.what}: median ${samples[2]!.toFixed(0)} ms (${samples[0]!.toFixed(0)}–${samples[4]!.toFixed(0)}), ${values} values\n`);
  }
  process.stdout.write(`${cpus().length} cores, node ${process.version}\n`);
} finally {
  await influx.stop();
}

/**
 * Golden cases, through the production pipeline: each folder under
 * test/golden/<table>/ holds `topic`, `payload` and either `expected.lp` (the
 * exact line protocol the log receives, so exactly what InfluxDB receives:
 * enriched with the location, presence events included) or `expected.reject`
 * (the reject reason; the log then receives the `ingest_rejects` point).
 * Adding a case is adding a folder.
 *
 * Each case runs on a fresh `Ingest` (nothing learned, no Sparkplug BIRTH
 * seen, no registry), with every handler on (PRESENCE_EMQX, SPARKPLUG) and
 * the folder's routes, received at RECEIVED_AT_MS.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseRoutes } from '../../ingestor/routes/routes-file.ts';
import type { Route } from '../../ingestor/routes/route.ts';
import { defaultRoutes, memoryIngest } from '../harness/memory-ingest.ts';

const GOLDEN = join(import.meta.dirname, '..', 'golden');
const RECEIVED_AT_MS = 1732280000123;
const EXAMPLE_ROUTES = join(import.meta.dirname, '..', '..', 'ingestor', 'routes.example.yaml');

/** Each folder of cases, and the routes behind the built-in handlers. */
const tables: Record<string, () => Route[]> = {
  sparkplug: defaultRoutes,
  'default-route': defaultRoutes,
  'example-routes': () => parseRoutes(EXAMPLE_ROUTES, readFileSync(EXAMPLE_ROUTES, 'utf8')),
};

for (const [name, routes] of Object.entries(tables)) {
  describe(`golden: ${name}`, () => {
    const cases = readdirSync(join(GOLDEN, name));
    test('has cases', () => assert.ok(cases.length > 0));
    for (const folder of cases) {
      const dir = join(GOLDEN, name, folder);
      test(folder, async () => {
        const { ingest, log, rejects } = memoryIngest({ routes: routes() });
        await ingest.accept({
          topic: readFileSync(join(dir, 'topic'), 'utf8'),
          payload: readFileSync(join(dir, 'payload')),
          receivedAtMs: RECEIVED_AT_MS,
        });
        if (existsSync(join(dir, 'expected.lp'))) {
          const expected = readFileSync(join(dir, 'expected.lp'), 'utf8').trimEnd().split('\n');
          assert.deepEqual(rejects.counts(), {}, 'no reject');
          assert.deepEqual(log.records, [expected], 'one record: the message\'s lines, in order');
        } else {
          const reason = readFileSync(join(dir, 'expected.reject'), 'utf8').trim();
          assert.deepEqual(rejects.counts(), { [reason]: 1 });
          assert.equal(log.lines.length, 1, 'only the ingest_rejects point');
          const line = log.lines[0]!;
          assert.match(line, new RegExp(`^ingest_rejects,reason=${reason},route=\\S+ `));
          const error = /error="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? '';
          assert.ok(error.length > 10, `a reject explains itself: ${line}`);
          assert.ok(line.endsWith(` ${RECEIVED_AT_MS}`), 'stamped with the receive time');
        }
      });
    }
  });
}

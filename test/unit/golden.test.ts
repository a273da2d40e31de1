/**
 * Golden cases: each folder under test/golden/<routes>/ holds `topic`,
 * `payload` and either `expected.lp` (the exact line protocol) or
 * `expected.reject` (the reject reason). Adding a case is adding a folder.
 * Every case is received at RECEIVED_AT_MS.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decodeSparkplug, parseSparkplugTopic } from '../../ingestor/decoders/sparkplug.ts';
import { reject, type Decoder } from '../../ingestor/decoders/types.ts';
import { createRouter } from '../../ingestor/routes/router.ts';
import { DEFAULT_ROUTES_YAML, parseRoutes } from '../../ingestor/routes/routes-file.ts';
import { messageToLines } from '../../ingestor/pipeline/to-lines.ts';

const GOLDEN = join(import.meta.dirname, '..', 'golden');
const RECEIVED_AT_MS = 1732280000123;

const LIMITS = { maxPayloadBytes: 256 * 1024, maxFutureMs: 24 * 3_600_000 };
const EXAMPLE_ROUTES = join(import.meta.dirname, '..', '..', 'ingestor', 'routes.example.yaml');

/** Sparkplug B with no alias seen yet, as right after the ingestor starts. */
const freshSparkplug: Decoder = (message) => {
  const topic = parseSparkplugTopic(message.topic);
  if (topic === null) return reject('topic_unmatched', 'not a Sparkplug topic');
  const result = decodeSparkplug(message, topic, undefined, LIMITS.maxFutureMs);
  return result.ok ? { ok: true, points: result.points } : result;
};

/** Each folder of cases, and what decodes it. */
const decoders: Record<string, Decoder> = {
  sparkplug: freshSparkplug,
  'default-route': createRouter(parseRoutes('default', DEFAULT_ROUTES_YAML), LIMITS),
  'example-routes': createRouter(parseRoutes(EXAMPLE_ROUTES, readFileSync(EXAMPLE_ROUTES, 'utf8')), LIMITS),
};

for (const [name, decode] of Object.entries(decoders)) {
  describe(`golden: ${name}`, () => {
    const cases = readdirSync(join(GOLDEN, name));
    test('has cases', () => assert.ok(cases.length > 0));
    for (const folder of cases) {
      const dir = join(GOLDEN, name, folder);
      test(folder, () => {
        const message = {
          topic: readFileSync(join(dir, 'topic'), 'utf8'),
          payload: readFileSync(join(dir, 'payload')),
          receivedAtMs: RECEIVED_AT_MS,
        };
        const result = messageToLines(decode, message);
        if (existsSync(join(dir, 'expected.lp'))) {
          const expected = readFileSync(join(dir, 'expected.lp'), 'utf8').trimEnd().split('\n');
          assert.ok(result.ok, `expected lines, got reject ${result.ok ? '' : `${result.reason}: ${result.error}`}`);
          assert.deepEqual(result.lines, expected);
        } else {
          const reason = readFileSync(join(dir, 'expected.reject'), 'utf8').trim();
          assert.ok(!result.ok, `expected reject ${reason}, got ${JSON.stringify(result)}`);
          assert.equal(result.reason, reason, result.error);
          assert.ok(result.error.length > 10, 'a reject explains itself');
        }
      });
    }
  });
}

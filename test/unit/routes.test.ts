import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LineParseError, parseLine } from '../../ingestor/decoders/line-protocol-parse.ts';
import { typedField } from '../../ingestor/routes/field-types.ts';
import { routeFilters } from '../../ingestor/routes/router.ts';
import { parseRoutes, RoutesError } from '../../ingestor/routes/routes-file.ts';
import { compileTemplate } from '../../ingestor/routes/template.ts';

describe('topic templates', () => {
  test('captures, skips and the rest; the subscription filter', () => {
    const template = compileTemplate('plant/{site}/+/{device}/{rest#}');
    assert.equal(template.filter, 'plant/+/+/+/#');
    assert.deepEqual(template.captures, ['site', 'device', 'rest']);
    assert.deepEqual(template.match('plant/north/x/d1/a/b/c'), { site: 'north', device: 'd1', rest: 'a/b/c' });
    assert.equal(template.match('plant/north/x/d1'), null, '{rest#} needs at least one level');
    assert.equal(template.match('other/north/x/d1/a'), null);
    assert.deepEqual(compileTemplate('sensors/{location}/{device}/telemetry').match('sensors//d/telemetry'), { location: '', device: 'd' });
    assert.equal(compileTemplate('a/{b}').match('a/b/c'), null, 'no more levels than the template');
  });

  for (const [source, message] of [
    ['a/#/b', /"#" must be the last level/],
    ['a/{b#}/c', /\{b#\} must be the last level/],
    ['a/{b}/{b}', /\{b\} appears twice/],
    ['a/b{c}', /neither text, \+, #, \{name\} nor \{name#\}/],
    ['', /empty/],
  ] as const) {
    test(`refuses ${JSON.stringify(source)}`, () => assert.throws(() => compileTemplate(source), message));
  }
});

describe('routes file', () => {
  test('the example file covers every layout in DESIGN.md, and its filters are what the ingestor subscribes to', () => {
    const file = join(import.meta.dirname, '..', '..', 'ingestor', 'routes.example.yaml');
    const routes = parseRoutes(file, readFileSync(file, 'utf8'));
    assert.deepEqual(routes.map((r) => r.name), ['sensors', 'industrial', 'home', 'boiler', 'line-protocol', 'device-streams']);
    assert.deepEqual(routeFilters(routes), ['sensors/+/+/telemetry', 'industrial/+/+/+/+/sensors/+', 'home/+/+', 'temperature', 'lp/+/+', '+/+']);
  });

  test('the sample documents every option and parses', () => {
    const file = join(import.meta.dirname, '..', '..', 'ingestor', 'routes.sample.yaml');
    const [route] = parseRoutes(file, readFileSync(file, 'utf8'));
    assert.equal(route?.name, 'example');
  });

  const base = 'routes:\n  - name: r1\n    topic: s/{location}/{device}\n';
  for (const [yaml, message] of [
    ['routes: []', /r\.yaml: routes: expected a list of routes, got \[\]$/],
    ['', /r\.yaml: expected "routes", a list of routes, got null$/],
    ['routes:\n  - name: r1\n', /r\.yaml: route "r1" at routes\[0\]: "topic" is required: e\.g\. sensors\/\{location\}\/\{device\}\/telemetry$/],
    ['routes:\n  - name: "a b"\n    topic: x/{device}\n', /r\.yaml: route "a b" at routes\[0\]\.name: must be a short name \(letters, digits, _ \. -\), got "a b"$/],
    [`${base}    tags: plant\n`, /r\.yaml: route "r1" at routes\[0\]\.tags: must be a list of names, got "plant"$/],
    [`${base}    static_tags: { site: [1] }\n`, /r\.yaml: route "r1" at routes\[0\]\.static_tags\.site: must be text, got \[1\]$/],
    [`${base}    format: xml\n`, /route "r1" at routes\[0\]\.format: must be one of json, envelope, value, lp, got "xml"/],
    [`${base}    measurement: "{kind}"\n`, /route "r1": "measurement" uses \{kind\}, which the topic "s\/\{location\}\/\{device\}" does not capture/],
    ['routes:\n  - name: r1\n    topic: s/{location}\n', /route "r1": no device: capture \{device\} in the topic or set "device"/],
    [`${base}    types: { t: decimal }\n`, /route "r1" at routes\[0\]\.types\.t: must be one of float, int, uint, bool, string, got "decimal"/],
    [`${base}    tags: [plant]\n`, /route "r1": "tags" lists plant, which the topic does not capture/],
    [`${base}    colour: red\n`, /route "r1" at routes\[0\]: unknown key "colour" \(expected name, topic, format, /],
    [`${base}  - name: r1\n    topic: x/{device}\n`, /route "r1": the name is used twice/],
    ['routes:\n  - name: r1\n    topic: a/#/b\n', /route "r1": "#" must be the last level/],
  ] as const) {
    test(`refuses: ${message.source.slice(0, 60)}`, () => {
      assert.throws(() => parseRoutes('r.yaml', yaml), (error: unknown) => error instanceof RoutesError && message.test(error.message) && error.message.startsWith('r.yaml: '));
    });
  }
});

describe('typedField', () => {
  test('undeclared: numbers are floats, booleans booleans, strings left out', () => {
    assert.deepEqual(typedField('t', 21, undefined), { kind: 'float', value: 21 });
    assert.deepEqual(typedField('b', true, undefined), { kind: 'bool', value: true });
    assert.equal(typedField('s', 'x', undefined), undefined);
    assert.equal((typedField('t', Infinity, undefined) as { reason: string }).reason, 'bad_field');
  });

  test('declared types hold whatever the spelling, and refuse what does not fit', () => {
    assert.deepEqual(typedField('n', 21.0, 'int'), { kind: 'int', value: 21n });
    assert.deepEqual(typedField('n', '-7', 'int'), { kind: 'int', value: -7n });
    assert.deepEqual(typedField('n', 7, 'uint'), { kind: 'uint', value: 7n });
    assert.deepEqual(typedField('f', '21.5', 'float'), { kind: 'float', value: 21.5 });
    assert.deepEqual(typedField('b', 'ON', 'bool'), { kind: 'bool', value: true });
    assert.deepEqual(typedField('b', 0, 'bool'), { kind: 'bool', value: false });
    assert.deepEqual(typedField('s', 1.5, 'string'), { kind: 'string', value: '1.5' });
    for (const [raw, type] of [[21.5, 'int'], [-1, 'uint'], [2 ** 60, 'int'], ['maybe', 'bool'], [true, 'float'], ['99999999999999999999', 'int']] as const) {
      const result = typedField('x', raw, type) as { ok: false; reason: string; error: string };
      assert.equal(result.reason, 'bad_field', `${String(raw)} as ${type}`);
      assert.match(result.error, new RegExp(`declared ${type}`));
    }
  });
});

describe('parseLine (line protocol from devices)', () => {
  test('escapes, every field type, and the timestamp', () => {
    assert.deepEqual(parseLine('my\\ m,t\\=k=a\\,b f=1.5,i=-3i,u=4u,b=T,s="x \\"y\\" \\\\" 1732280000000000000'), {
      measurement: 'my m',
      tags: { 't=k': 'a,b' },
      fields: { f: { kind: 'float', value: 1.5 }, i: { kind: 'int', value: -3n }, u: { kind: 'uint', value: 4n }, b: { kind: 'bool', value: true }, s: { kind: 'string', value: 'x "y" \\' } },
      timestamp: 1732280000000000000n,
    });
    assert.equal(parseLine('m f=1').timestamp, undefined);
  });

  for (const line of ['m', 'm f', 'm f=', ',t=1 f=1', 'm f=1 12x', 'm f=abc', 'm f="open', 'm f=1 2 3', 'm,t f=1']) {
    test(`refuses ${JSON.stringify(line)}`, () => assert.throws(() => parseLine(line), LineParseError));
  }
});

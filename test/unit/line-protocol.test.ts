import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodePoint, LineProtocolError } from '../../ingestor/model/line-protocol.ts';
import { bool, float, str, type Point } from '../../ingestor/model/point.ts';

const point = (overrides: Partial<Point>): Point => ({
  measurement: 'm',
  tags: {},
  fields: { v: float(1) },
  timestampMs: 1732280000000,
  ...overrides,
});

/**
 * A reader for the tag section as InfluxDB 1.x parses it: `\` escapes the
 * next byte only when that byte is `,`, `=` or space, and is literal
 * otherwise. Used to check that encoding round-trips.
 */
function readTags(line: string): Record<string, string> {
  const tags: Record<string, string> = {};
  let i = line.indexOf(',');
  const end = (() => {
    for (let j = 0; j < line.length; j += 1) {
      if (line[j] === '\\') j += 1;
      else if (line[j] === ' ') return j;
    }
    return line.length;
  })();
  while (i !== -1 && i < end) {
    let key = '';
    let value = '';
    let target: 'key' | 'value' = 'key';
    i += 1;
    for (; i < end; i += 1) {
      const c = line[i] as string;
      if (c === '\\' && /[,= ]/.test(line[i + 1] ?? '')) {
        i += 1;
        if (target === 'key') key += line[i];
        else value += line[i];
      } else if (c === '=' && target === 'key') target = 'value';
      else if (c === ',') break;
      else if (target === 'key') key += c;
      else value += c;
    }
    tags[key] = value;
    if (i >= end) break;
  }
  return tags;
}

describe('encodePoint', () => {
  test('writes measurement, sorted tags, fields in order and the ms timestamp', () => {
    assert.equal(
      encodePoint(point({ tags: { location: 'lab', device: 'd1' }, fields: { t: float(21.5), ok: bool(true), note: str('hi') } })),
      'm,device=d1,location=lab t=21.5,ok=true,note="hi" 1732280000000',
    );
  });

  test('escapes comma and space in measurements, and quotes and backslashes in string fields', () => {
    assert.equal(
      encodePoint(point({ measurement: 'a b,c', fields: { s: str('say "hi" \\o/') } })),
      'a\\ b\\,c s="say \\"hi\\" \\\\o/" 1732280000000',
    );
  });

  test('writes integers with i, unsigned with u, and never gives a whole float an integer suffix', () => {
    assert.equal(
      encodePoint(point({ fields: { f: float(21), i: { kind: 'int', value: -5n }, u: { kind: 'uint', value: 18446744073709551615n } } })),
      'm f=21,i=-5i,u=18446744073709551615u 1732280000000',
    );
  });

  for (const [what, overrides, message] of [
    ['a NaN field', { fields: { v: float(NaN) } }, /NaN/],
    ['no fields', { fields: {} }, /no fields/],
    ['an empty tag value', { tags: { device: '' } }, /empty/],
    ['a newline in a tag value', { tags: { device: 'a\nb' } }, /control character/],
    ['a trailing backslash', { tags: { device: 'a\\' } }, /backslash/],
    ['a backslash before a comma', { tags: { device: 'a\\,b' } }, /backslash/],
    ['a reserved tag key', { tags: { _x: 'a' } }, /reserves/],
    ['a tag key named time', { tags: { time: 'a' } }, /"time"/],
    ['a newline in a string field', { fields: { s: str('a\nb') } }, /control character/],
    ['a fractional timestamp', { timestampMs: 1.5 }, /whole number/],
  ] as const) {
    test(`refuses ${what}`, () => {
      assert.throws(() => encodePoint(point(overrides)), (error: unknown) => {
        assert.ok(error instanceof LineProtocolError);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  test('property: any tag value is either refused or read back exactly, and never adds a line or a tag', () => {
    const alphabet = ['a', 'Z', '0', ' ', ',', '=', '"', "'", '\\', '/', 'é', '温', '😀', '\t', '\n', '#', '+'];
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let accepted = 0;
    for (let n = 0; n < 5000; n += 1) {
      const length = Math.floor(random() * 8);
      let value = '';
      for (let k = 0; k < length; k += 1) value += alphabet[Math.floor(random() * alphabet.length)];
      let line: string;
      try {
        line = encodePoint(point({ tags: { device: value, location: 'x' } }));
      } catch (error) {
        assert.ok(error instanceof LineProtocolError, String(error));
        continue;
      }
      accepted += 1;
      assert.ok(!line.includes('\n'), `newline in ${JSON.stringify(line)}`);
      assert.deepEqual(readTags(line), { device: value, location: 'x' }, `line ${JSON.stringify(line)}`);
    }
    assert.ok(accepted > 1000, `most values are writable (${accepted})`);
  });

  test('names are escaped once and reused, and a refused name is refused every time, naming its own key', () => {
    const line = (tags: Record<string, string>): string => encodePoint(point({ tags }));
    // The same value under two keys, each escaped the same way from the cache.
    assert.equal(line({ a: 'x y', b: 'x y' }), 'm,a=x\\ y,b=x\\ y v=1 1732280000000');
    assert.equal(line({ a: 'x y', b: 'x y' }), 'm,a=x\\ y,b=x\\ y v=1 1732280000000');
    for (const key of ['first', 'second', 'first']) {
      assert.throws(() => line({ [key]: 'bad\\' }), (error: unknown) => {
        assert.ok(error instanceof LineProtocolError);
        assert.match(error.message, new RegExp(`tag "${key}"`));
        return true;
      });
    }
    // Many distinct values (a large fleet) keep encoding correctly past the cache's bound.
    for (let i = 0; i < 60_000; i += 1) assert.equal(line({ device: `d ${i}` }), `m,device=d\\ ${i} v=1 1732280000000`);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { DeviceDirectory } from '../../ingestor/directory/directory.ts';
import { parseRegistry, RegistryError } from '../../ingestor/directory/registry.ts';

const silent = pino({ level: 'silent' });

describe('parseRegistry', () => {
  test('YAML: location, group, type and extra tags, and strict', () => {
    const registry = parseRegistry('devices.yaml', 'strict: true\ndevices:\n  dev-1: { location: lab, group: g1, type: thermo, tags: { building: A, floor: 2 } }\n  dev-2: {}\n');
    assert.equal(registry.strict, true);
    assert.deepEqual(registry.devices.get('dev-1'), { location: 'lab', group: 'g1', type: 'thermo', tags: { building: 'A', floor: '2' } });
    assert.deepEqual(registry.devices.get('dev-2'), { tags: {} });
  });

  test('CSV: the four known columns, every other column a tag', () => {
    const registry = parseRegistry('devices.csv', '# our fleet\ndevice,location,group,type,building\ndev-1,lab,g1,thermo,A\ndev-2,hall,,,\n');
    assert.deepEqual(registry.devices.get('dev-1'), { location: 'lab', group: 'g1', type: 'thermo', tags: { building: 'A' } });
    assert.deepEqual(registry.devices.get('dev-2'), { location: 'hall', tags: {} });
  });

  for (const [file, content, message] of [
    ['d.yaml', 'devices: [a, b]', /^d\.yaml: devices: must map device ids to their location, group, type and tags, got \["a","b"\]$/],
    ['d.yaml', 'strict: maybe\ndevices: {}', /^d\.yaml: strict: must be true or false, got "maybe"$/],
    ['d.yaml', 'devices:\n  d1: { tags: [a] }', /^d\.yaml: device "d1" at devices\.d1\.tags: must be a mapping, got \["a"\]$/],
    ['d.yaml', 'devices: {}\nstrictly: true', /^d\.yaml: unknown key "strictly" \(expected strict, devices\)$/],
    ['d.yaml', 'devices:\n  d1: { tags: { device: x } }', /tag "device" is set by the pipeline/],
    ['d.yaml', 'devices:\n  d1: { location: [1] }', /^d\.yaml: device "d1" at devices\.d1\.location: must be text, got \[1\]$/],
    ['d.yaml', ': : :', /not valid YAML/],
    ['d.csv', 'location\nlab\n', /"device" column/],
    ['d.csv', 'device,location\nd1,a\nd1,b\n', /row 3: device "d1" is listed twice/],
    ['d.json', '{}', /expected a \.yaml, \.yml or \.csv file/],
  ] as const) {
    test(`${file}: ${message.source}`, () => {
      assert.throws(() => parseRegistry(file, content), (error: unknown) => error instanceof RegistryError && message.test(error.message) && error.message.startsWith(`${file}: `));
    });
  }
});

describe('DeviceDirectory', () => {
  test('registry first, then learned locations, then "unknown"; learned ones survive a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-directory-'));
    try {
      const file = join(dir, 'sub', 'devices.json');
      const registry = parseRegistry('d.yaml', 'devices:\n  reg: { location: lab, group: g1, type: thermo }\n');
      const first = new DeviceDirectory(registry, file, silent);
      first.learnLocation('reg', 'elsewhere');
      first.learnLocation('seen', 'hall');
      assert.deepEqual(first.tagsFor('reg'), { location: 'lab', group: 'g1', extra: { type: 'thermo' } });
      assert.deepEqual(first.tagsFor('seen'), { location: 'hall', group: 'unknown', extra: {} });
      assert.deepEqual(first.tagsFor('never'), { location: 'unknown', group: 'unknown', extra: {} });
      assert.equal(first.hasLocation('reg'), true);
      assert.equal(first.hasLocation('seen'), true);
      assert.equal(first.hasLocation('never'), false);
      first.rememberStatus('seen', { online: false, atMs: 1732280000000 });
      await first.save();
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {
        locations: { reg: 'elsewhere', seen: 'hall' },
        status: { seen: { online: false, atMs: 1732280000000 } },
        liveness: {},
        troubled: [],
      });

      const second = new DeviceDirectory(registry, file, silent);
      assert.equal(second.tagsFor('seen').location, 'hall');
      assert.deepEqual(second.lastStatus('seen'), { online: false, atMs: 1732280000000 });
      assert.equal(second.lastStatus('never'), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a file from before statuses were kept still loads; damaged status entries are skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-directory-'));
    try {
      const file = join(dir, 'devices.json');
      writeFileSync(file, JSON.stringify({ locations: { a: 'lab' } }));
      assert.equal(new DeviceDirectory({ strict: false, devices: new Map() }, file, silent).tagsFor('a').location, 'lab');
      writeFileSync(file, JSON.stringify({ locations: {}, status: { a: { online: 'yes', atMs: 1 }, b: null, c: { online: true, atMs: 5 } } }));
      const directory = new DeviceDirectory({ strict: false, devices: new Map() }, file, silent);
      assert.equal(directory.lastStatus('a'), undefined);
      assert.equal(directory.lastStatus('b'), undefined);
      assert.deepEqual(directory.lastStatus('c'), { online: true, atMs: 5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a damaged learned file is a warning, not a failure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-directory-'));
    try {
      const file = join(dir, 'devices.json');
      writeFileSync(file, '{not json');
      const directory = new DeviceDirectory({ strict: false, devices: new Map() }, file, silent);
      assert.equal(directory.tagsFor('x').location, 'unknown');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

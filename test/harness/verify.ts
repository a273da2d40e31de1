/** Reading a fleet back from the stores and comparing it, point by point, with what was sent. */
import assert from 'node:assert/strict';
import { pointKey, type ExpectedPoint, type Fleet } from './fleet.ts';
import type { Influx1 } from './services.ts';

/** Every telemetry point in the database, keyed like Fleet.expected; fails on a duplicate key. */
export async function readFleetFromInflux(influx: Influx1, db: string): Promise<Map<string, ExpectedPoint>> {
  const actual = new Map<string, ExpectedPoint>();
  for (const row of await influx.query('SELECT temperature, humidity, battery, device, location FROM telemetry', db)) {
    const point: ExpectedPoint = {
      device: row.device as string,
      location: row.location as string,
      timestampMs: row.time as number,
      fields: { temperature: row.temperature as number, humidity: row.humidity as number, battery: row.battery as number },
    };
    const key = pointKey(point.location, point.device, point.timestampMs);
    assert.ok(!actual.has(key), `duplicate point ${key}`);
    actual.set(key, point);
  }
  return actual;
}

export async function countTelemetry(influx: Influx1, db: string): Promise<number> {
  const [row] = await influx.query('SELECT count(temperature) FROM telemetry', db);
  return (row?.count as number | undefined) ?? 0;
}

/** The store holds exactly the fleet: nothing missing, nothing extra, every value and timestamp equal. */
export function assertSameDataset(fleet: Fleet, actual: Map<string, ExpectedPoint>): void {
  const missing = [...fleet.expected.keys()].filter((key) => !actual.has(key));
  const extra = [...actual.keys()].filter((key) => !fleet.expected.has(key));
  assert.deepEqual(
    { missing: missing.length, extra: extra.length, firstMissing: missing.slice(0, 3), firstExtra: extra.slice(0, 3) },
    { missing: 0, extra: 0, firstMissing: [], firstExtra: [] },
    'points missing or unexpected',
  );
  for (const [key, want] of fleet.expected) assert.deepEqual(actual.get(key), want, `point ${JSON.stringify(key)}`);
}

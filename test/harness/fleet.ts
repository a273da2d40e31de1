/**
 * A deterministic test fleet: devices × locations × readings, with the tag
 * values real topics can carry (commas, spaces, equals signs, quotes, a
 * backslash, non-ASCII), and the points each message must become.
 */
import type { OutgoingMessage } from './publisher.ts';

export const HOSTILE_LOCATIONS = ['plant-1', 'hall a,b', 'zone=3', 'büro "nord"', 'back\\slash'] as const;

export interface ExpectedPoint {
  readonly device: string;
  readonly location: string;
  readonly timestampMs: number;
  readonly fields: Readonly<Record<string, number>>;
}

export interface Fleet {
  readonly messages: OutgoingMessage[];
  /** Keyed by pointKey(). */
  readonly expected: Map<string, ExpectedPoint>;
}

export const pointKey = (location: string, device: string, timestampMs: number): string =>
  `${location}\u0000${device}\u0000${timestampMs}`;

function deviceName(index: number): string {
  const special: Record<number, string> = { 7: 'sensor 7', 13: '温度计-13', 21: 'd,21', 42: 'd=42', 55: "o'brien\"55" };
  return special[index] ?? `dev-${String(index).padStart(3, '0')}`;
}

/**
 * `devices` devices spread round-robin over `locations.length` locations,
 * each sending `perDevice` readings one second apart, interleaved as a real
 * fleet would. Values have few significant digits so every store keeps them
 * exactly (VictoriaMetrics stores decimals, not raw doubles).
 */
export function makeFleet(devices: number, perDevice: number, baseMs: number, locations: readonly string[] = HOSTILE_LOCATIONS): Fleet {
  const messages: OutgoingMessage[] = [];
  const expected = new Map<string, ExpectedPoint>();
  for (let seq = 0; seq < perDevice; seq += 1) {
    for (let d = 0; d < devices; d += 1) {
      const device = deviceName(d);
      const location = locations[d % locations.length] as string;
      const timestampMs = baseMs + seq * 1000 + d;
      const fields = {
        temperature: Math.round((15 + (d % 17) + seq / 8) * 100) / 100,
        humidity: Math.round((30 + ((d * 7 + seq) % 50)) * 10) / 10,
        battery: 100 - (seq % 100),
      };
      messages.push({
        topic: `sensors/${location}/${device}/telemetry`,
        payload: JSON.stringify({ ...fields, ts: timestampMs }),
      });
      expected.set(pointKey(location, device, timestampMs), { device, location, timestampMs, fields });
    }
  }
  return { messages, expected };
}

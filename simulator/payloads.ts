/** A reading → the messages a device publishes, in the chosen format. Pure. */
import type { Format } from './options.ts';
import type { DeviceProfile, Reading } from './readings.ts';

export interface Outgoing {
  readonly topic: string;
  readonly payload: string;
}

export const statusTopic = (profile: DeviceProfile): string => `sensors/${profile.location}/${profile.id}/status`;
export const telemetryTopic = (profile: DeviceProfile): string => `sensors/${profile.location}/${profile.id}/telemetry`;

export function readingMessages(profile: DeviceProfile, reading: Reading, format: Format): Outgoing[] {
  switch (format) {
    case 'json':
      return [{ topic: telemetryTopic(profile), payload: JSON.stringify(reading) }];
    case 'value': {
      const { ts: _ts, ...fields } = reading;
      return Object.entries(fields).map(([field, value]) => ({ topic: `sensors/${profile.location}/${profile.id}/${field}`, payload: String(value) }));
    }
    case 'lp': {
      const { ts, ...fields } = reading;
      const values = Object.entries(fields).map(([field, value]) => `${field}=${value}`).join(',');
      return [{ topic: telemetryTopic(profile), payload: `telemetry,device=${profile.id},location=${profile.location} ${values} ${ts}` }];
    }
  }
}

/** What a misbehaving device sends: each a different way of being wrong. */
export const MALFORMED_PAYLOADS = ['{"temperature":', 'not json at all', '[21.5, 45]', '{"temperature":"hot"}', '{"temperature":1e999}', '\u0000\u0001\u0002'];

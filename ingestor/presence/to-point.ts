/** A presence event + what the directory knows → the `device_presence` point. Pure. */
import type { DirectoryTags } from '../directory/directory.ts';
import { str, type FieldValue, type Point } from '../model/point.ts';
import type { PresenceEvent } from './event.ts';

export const PRESENCE_MEASUREMENT = 'device_presence';

export function presencePoint(event: PresenceEvent, known: DirectoryTags): Point {
  const fields: Record<string, FieldValue> = {
    // An integer, so that mean() and last() of online read naturally in Grafana.
    online: { kind: 'int', value: event.online ? 1n : 0n },
    event: str(event.online ? 'connected' : 'disconnected'),
    reason: str(event.reason),
  };
  if (event.ip !== undefined) fields.ip = str(event.ip);
  return {
    measurement: PRESENCE_MEASUREMENT,
    tags: {
      device: event.device,
      // Where the device says it is (status topic) beats what we remember.
      location: event.location ?? known.location,
      group: known.group,
      source: event.source,
    },
    fields,
    timestampMs: event.atMs,
  };
}

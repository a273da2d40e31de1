/**
 * Is a retained status message news? Pure.
 *
 * Whenever the ingestor (re)subscribes, the broker re-sends every device's
 * retained status (MQTT: RETAIN flag set). That is the state as it was when
 * the device (or its last will) published it, not something that just
 * happened. Recording it again, stamped with the receive time, would make an
 * offline device "go offline" at every restart and reset every
 * "offline for 5 minutes" alert.
 *
 * - Nothing known about the device's status topic: it is news (the only
 *   knowledge there is). It keeps the payload's time when it has one; without
 *   one it is stamped with the receive time, once: it is remembered, so a
 *   later restart finds it known.
 * - The payload carries its own time: news only when newer than the state
 *   known; the same or an older time is the same message again.
 * - No time in the payload: news only when it says something else than the
 *   state known.
 */
import type { KnownStatus } from '../directory/directory.ts';
import type { PresenceEvent } from './event.ts';

export type RetainedVerdict = 'news' | 'known';

export function judgeRetainedStatus(known: KnownStatus | undefined, event: Pick<PresenceEvent, 'online' | 'atMs' | 'timeFromPayload'>): RetainedVerdict {
  if (known === undefined) return 'news';
  if (event.timeFromPayload === true) return event.atMs > known.atMs ? 'news' : 'known';
  return event.online === known.online ? 'known' : 'news';
}

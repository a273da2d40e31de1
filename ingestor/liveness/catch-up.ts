/**
 * Is the ingestor catching up? While it is, `device_state` ticks are
 * skipped: its view of the fleet is behind the broker's, so a tick would
 * make devices whose backlog has not been read yet look silent (or, with
 * receive times, alive). Grafana's rules keep the last state on no data.
 *
 * The window is the time since the last tick or the last (re)connection to
 * the broker, whichever is later; the ingestor is catching up when:
 * - `disconnected`: it is not connected to the broker (nothing arrives; the
 *   broker queues for a persistent session);
 * - `backlog`: more than half of the messages with a payload time received
 *   in the window (retained ones excepted) were older than
 *   DEVICE_STATE_MAX_LAG_S on arrival: the broker is replaying a queue;
 * - `reconnected`: it (re)connected since the last tick and no message with
 *   a payload time has arrived since: nothing yet says the queue is drained.
 *
 * InfluxDB being down is not catching up: messages keep arriving live, the
 * ticks carry their own times and wait in the write-ahead log like every
 * other point. Pure.
 */
export type CatchingUp = 'disconnected' | 'backlog' | 'reconnected';

export interface CatchUpWindow {
  readonly brokerConnected: boolean;
  /** A (re)connection happened since the last tick. */
  readonly reconnected: boolean;
  /** Messages with a payload time received in the window (not retained). */
  readonly timedMessages: number;
  /** Of those, the ones older than DEVICE_STATE_MAX_LAG_S on arrival. */
  readonly lateMessages: number;
}

export function catchingUp(window: CatchUpWindow): CatchingUp | undefined {
  if (!window.brokerConnected) return 'disconnected';
  if (window.lateMessages * 2 > window.timedMessages) return 'backlog';
  if (window.reconnected && window.timedMessages === 0) return 'reconnected';
  return undefined;
}

/** Counts the window's messages; the hot path: two additions. */
export class LagCounter {
  timed = 0;
  late = 0;
  readonly #maxLagMs: number;

  constructor(maxLagMs: number) {
    this.#maxLagMs = maxLagMs;
  }

  /** A message whose payload carried its own time. */
  count(receivedAtMs: number, payloadAtMs: number): void {
    this.timed += 1;
    if (receivedAtMs - payloadAtMs > this.#maxLagMs) this.late += 1;
  }

  reset(): void {
    this.timed = 0;
    this.late = 0;
  }
}

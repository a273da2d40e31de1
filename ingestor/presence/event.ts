/** One normalized presence event, whatever the source said it in. */
export type PresenceSource = 'emqx' | 'lwt' | 'sparkplug';

export interface PresenceEvent {
  readonly device: string;
  readonly source: PresenceSource;
  readonly online: boolean;
  /** When it happened (broker time for EMQX, payload `ts` or receive time for status topics). */
  readonly atMs: number;
  /** EMQX's reason (`normal`, `tcp_closed`, `keepalive_timeout`, …), or the status payload's, or "status". */
  readonly reason: string;
  readonly ip?: string;
  /** From a status topic: where the device said it is. */
  readonly location?: string;
  /** EMQX: when the connection this event is about was made; tells stale events apart. */
  readonly connectedAtMs?: number;
  /** EMQX: the user name the client logged in with (who it is, unlike the client id it chose). */
  readonly username?: string;
  /** EMQX `takenover` / `discarded`: the session moved to a new connection; the device did not go away. */
  readonly sessionMoved?: boolean;
  /** Status topics: `atMs` is the payload's own time, not the receive time. */
  readonly timeFromPayload?: boolean;
  /** Status topics: the broker sent the topic's retained state because we subscribed; it may be old news. */
  readonly retained?: boolean;
}

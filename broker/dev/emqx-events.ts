/**
 * EMQX 5 client presence events, as EMQX publishes them on
 * `$SYS/brokers/{node}/clients/{clientid}/connected|disconnected`. Pure.
 */
export interface ConnectionInfo {
  readonly clientid: string;
  readonly username: string | undefined;
  readonly ipaddress: string;
  readonly sockport: number;
  readonly protoVer: number;
  readonly keepalive: number;
  readonly cleanStart: boolean;
  readonly expiryInterval: number;
  readonly connectedAt: number;
}

/** Why a connection ended, in EMQX's words. */
export type DisconnectReason = 'normal' | 'tcp_closed' | 'keepalive_timeout' | 'takenover' | 'kicked' | 'discarded';

export function presenceTopic(node: string, clientid: string, event: 'connected' | 'disconnected'): string {
  return `$SYS/brokers/${node}/clients/${clientid}/${event}`;
}

function common(info: ConnectionInfo): Record<string, unknown> {
  return {
    clientid: info.clientid,
    username: info.username ?? 'undefined',
    ipaddress: info.ipaddress,
    sockport: info.sockport,
    proto_name: 'MQTT',
    proto_ver: info.protoVer,
    connected_at: info.connectedAt,
  };
}

export function connectedPayload(info: ConnectionInfo, nowMs: number): Record<string, unknown> {
  return { ...common(info), keepalive: info.keepalive, clean_start: info.cleanStart, expiry_interval: info.expiryInterval, ts: nowMs };
}

export function disconnectedPayload(info: ConnectionInfo, reason: DisconnectReason, nowMs: number): Record<string, unknown> {
  return { ...common(info), reason, disconnected_at: nowMs, ts: nowMs };
}

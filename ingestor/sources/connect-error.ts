/**
 * Why an MQTT connection failed, in words a user can act on. Pure.
 *
 * TLS failures reach us as Node error codes (OpenSSL verify results for the
 * broker's certificate, `ERR_SSL_*_ALERT_*` when the broker refuses ours),
 * explained by common/tls-error.ts as for every other TLS client of ours, and
 * broker refusals as CONNACK codes (MQTT 3.1.1: 1-5, MQTT 5: 128-159). Each
 * gets a stable key, so a caller can say it once per change instead of once per
 * retry, a cause, and a hint naming the setting to check.
 */
import { explainTlsError, type TlsPeer } from '../../common/tls-error.ts';

/** The setting names a hint points at: the ingestor's variables, or the simulator's flags. */
export interface ConnectSettingNames {
  readonly url: string;
  readonly ca: string;
  readonly cert: string;
  readonly credentials: string;
}

export const INGESTOR_SETTINGS: ConnectSettingNames = {
  url: 'MQTT_URL',
  ca: 'MQTT_CA_FILE',
  cert: 'MQTT_CERT_FILE and MQTT_KEY_FILE',
  credentials: 'MQTT_USERNAME and MQTT_PASSWORD',
};

export interface ConnectErrorExplained {
  /** The error code as given (a Node/OpenSSL code or a CONNACK number), or the message when there is none. */
  readonly key: string;
  /** What went wrong, e.g. "the broker's certificate has expired". Undefined when we cannot tell. */
  readonly cause: string | undefined;
  /** What to check, naming the setting. Undefined when we have no advice. */
  readonly hint: string | undefined;
}

type Explanation = Omit<ConnectErrorExplained, 'key'>;

/** The broker as common/tls-error.ts sees it: TLS problems are explained there, for every client alike. */
const brokerPeer = (names: ConnectSettingNames): TlsPeer => ({ name: 'the broker', url: names.url, ca: names.ca, cert: names.cert, plainScheme: 'mqtt://' });

/** What only MQTT has: CONNACK refusals, and the broker's address. */
function explainMqtt(code: number | string | undefined, names: ConnectSettingNames): Explanation | undefined {
  switch (code) {
    case 4:
    case 134:
      return { cause: 'bad user name or password', hint: `check ${names.credentials}` };
    case 5:
    case 135:
      return { cause: 'not authorized', hint: 'the broker does not allow this user (or certificate identity) to connect: check its users and ACL' };
    case 'ECONNREFUSED':
      return { cause: 'connection refused', hint: `is the broker running at ${names.url}?` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { cause: 'the broker host name does not resolve', hint: `check the host in ${names.url}` };
    default:
      return undefined;
  }
}

function explain(code: number | string | undefined, names: ConnectSettingNames): Explanation | undefined {
  return explainTlsError(code, brokerPeer(names)) ?? explainMqtt(code, names);
}

export function explainConnectError(error: Error & { code?: number | string }, names: ConnectSettingNames = INGESTOR_SETTINGS): ConnectErrorExplained {
  const key = error.code === undefined ? error.message : String(error.code);
  return { key, cause: undefined, hint: undefined, ...explain(error.code, names) };
}

/** One line: "cause (CODE): hint", or the bare message when the error is not one we know. */
export function connectErrorLine(error: Error & { code?: number | string }, names: ConnectSettingNames = INGESTOR_SETTINGS): string {
  const { key, cause, hint } = explainConnectError(error, names);
  if (cause === undefined) return error.message;
  return `${cause} (${key}): ${hint ?? error.message}`;
}

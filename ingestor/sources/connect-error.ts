/**
 * Why an MQTT connection failed, in words a user can act on. Pure.
 *
 * TLS failures reach us as Node error codes (OpenSSL verify results for the
 * broker's certificate, `ERR_SSL_*_ALERT_*` when the broker refuses ours) and
 * broker refusals as CONNACK codes (MQTT 3.1.1: 1-5, MQTT 5: 128-159). Each
 * gets a stable key, so a caller can say it once per change instead of once per
 * retry, a cause, and a hint naming the setting to check.
 */

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

const UNTRUSTED_BROKER = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

function explain(code: number | string | undefined, names: ConnectSettingNames): Explanation | undefined {
  if (typeof code === 'string' && UNTRUSTED_BROKER.has(code)) {
    return { cause: "the broker's certificate is not signed by a CA we trust (unknown CA)", hint: `set ${names.ca} to the CA that signed the broker's certificate` };
  }
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return { cause: "the broker's certificate has expired", hint: "renew the broker's certificate (or check this machine's clock)" };
    case 'CERT_NOT_YET_VALID':
      return { cause: "the broker's certificate is not valid yet", hint: "check this machine's clock and the certificate's start date" };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { cause: "the broker's certificate does not match the host (hostname mismatch)", hint: `use a host name in ${names.url} that the certificate lists in subjectAltName, or reissue the certificate for this host` };
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return { cause: 'the broker requires a client certificate and we sent none', hint: `set ${names.cert}` };
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
      return { cause: 'the broker does not trust our client certificate (unknown CA)', hint: `${names.cert} must be signed by the CA in the broker's cafile` };
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED':
      return { cause: 'the broker refused our client certificate: it has expired', hint: `renew the certificate in ${names.cert}` };
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN':
    case 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED':
      return { cause: 'the broker refused our client certificate', hint: `check ${names.cert} against the broker's cafile and its log` };
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return { cause: 'the broker does not speak TLS on this port', hint: `use mqtt:// in ${names.url}, or the broker's TLS port` };
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

/**
 * Why a TLS connection failed, in words a user can act on. Pure.
 *
 * One table for every client of ours that speaks TLS: the ingestor's and the
 * simulator's MQTT connections (ingestor/sources/connect-error.ts), the
 * ingestor's and setup's requests to InfluxDB, the notifier's posts to
 * DingTalk / Feishu. Node reports the server's certificate problems as
 * OpenSSL verify codes (`CERT_HAS_EXPIRED`, `SELF_SIGNED_CERT_IN_CHAIN` ...)
 * or its own `ERR_TLS_CERT_ALTNAME_INVALID`, and a server's refusal of our
 * client certificate as `ERR_SSL_*_ALERT_*`. Each known code gets a cause
 * and a hint naming the setting to fix; callers say it once per distinct
 * code, not once per retry.
 */

/** Who the client talks to and the settings that shape the connection, as the user knows them. */
export interface TlsPeer {
  /** The server, ready for a possessive: "the broker", "InfluxDB", "the webhook host". */
  readonly name: string;
  /** The setting that names the server's host: `MQTT_URL`, `INFLUX_URL`, `--url`. */
  readonly url: string;
  /** The setting that names the CA to trust: `MQTT_CA_FILE`, `INFLUX_CA_FILE`. */
  readonly ca: string;
  /** The scheme to use when the server does not speak TLS: `mqtt://`, `http://`. */
  readonly plainScheme: string;
  /** The settings naming our client certificate; absent when this client cannot send one. */
  readonly cert?: string;
}

export interface TlsExplanation {
  /** What went wrong, e.g. "InfluxDB's certificate has expired". */
  readonly cause: string;
  /** What to do, naming the setting. */
  readonly hint: string;
}

/** The server's certificate does not chain to a CA we trust. */
const UNTRUSTED_SERVER = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

/** Alerts a server sends when it refuses our client certificate (or wanted one). */
function clientCertificateProblem(code: string, peer: TlsPeer, cert: string): TlsExplanation | undefined {
  switch (code) {
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return { cause: `${peer.name} requires a client certificate and we sent none`, hint: `set ${cert}` };
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
      return { cause: `${peer.name} does not trust our client certificate (unknown CA)`, hint: `${cert} must be signed by the CA in ${peer.name}'s cafile` };
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED':
      return { cause: `${peer.name} refused our client certificate: it has expired`, hint: `renew the certificate in ${cert}` };
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN':
    case 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED':
      return { cause: `${peer.name} refused our client certificate`, hint: `check ${cert} against ${peer.name}'s cafile and its log` };
    default:
      return undefined;
  }
}

/** The explanation of a TLS error code, or undefined when the code is not a TLS problem we know. */
export function explainTlsError(code: unknown, peer: TlsPeer): TlsExplanation | undefined {
  if (typeof code !== 'string') return undefined;
  const certificate = `${peer.name}'s certificate`;
  if (UNTRUSTED_SERVER.has(code)) {
    return { cause: `${certificate} is not signed by a CA we trust (unknown CA)`, hint: `set ${peer.ca} to the CA that signed ${certificate}` };
  }
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return { cause: `${certificate} has expired`, hint: `renew ${certificate} (or check this machine's clock)` };
    case 'CERT_NOT_YET_VALID':
      return { cause: `${certificate} is not valid yet`, hint: "check this machine's clock and the certificate's start date" };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { cause: `${certificate} does not match the host (hostname mismatch)`, hint: `use a host name in ${peer.url} that the certificate lists in subjectAltName, or reissue the certificate for this host` };
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return { cause: `${peer.name} does not speak TLS on this port`, hint: `use ${peer.plainScheme} in ${peer.url}, or ${peer.name}'s TLS port` };
    default:
      return peer.cert === undefined ? undefined : clientCertificateProblem(code, peer, peer.cert);
  }
}

/** The error's code, when it has one (Node errors carry it as `code`; fetch's under `cause`). */
export function errorCode(error: unknown): string | undefined {
  const direct = (error as { code?: unknown } | undefined)?.code;
  if (typeof direct === 'string') return direct;
  const nested = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof nested === 'string' ? nested : undefined;
}

/** "cause (CODE): hint" for a TLS error we know, else undefined. */
export function tlsErrorLine(error: unknown, peer: TlsPeer): string | undefined {
  const code = errorCode(error);
  const explained = explainTlsError(code, peer);
  return explained === undefined ? undefined : `${explained.cause} (${code}): ${explained.hint}`;
}

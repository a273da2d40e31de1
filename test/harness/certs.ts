/**
 * A throw-away PKI for TLS tests, made with the `openssl` CLI in a temporary
 * directory: a CA, broker certificates (good, expired, for another host),
 * client certificates whose common name is the MQTT identity, and a second,
 * unrelated CA that nobody trusts.
 *
 * P-256 keys: generating them takes milliseconds, so every test run gets fresh
 * certificates and nothing secret is committed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA every good certificate is signed by. */
  readonly ca: string;
  /** A CA that signed nothing the broker or the clients trust. */
  readonly otherCa: string;
  /** Broker certificate for 127.0.0.1 and localhost. */
  readonly server: CertPair;
  /** Broker certificate for 127.0.0.1 whose validity ended before the test started. */
  readonly serverExpired: CertPair;
  /** Broker certificate valid only for broker.example.com. */
  readonly serverWrongHost: CertPair;
  /** A client certificate with this common name, signed by `ca`. */
  client(commonName: string): CertPair;
  /** A client certificate with this common name, signed by `otherCa`. */
  clientOfOtherCa(commonName: string): CertPair;
  /** A client certificate with this common name, signed by `ca`, already expired. */
  clientExpired(commonName: string): CertPair;
  remove(): void;
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', ...KEY_ARGS, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '30', '-subj', `/CN=sensorflow test ${name}`]);
}

/** A key and a certificate signed by `ca`; `days` -1 gives one that has already expired. */
function issue(dir: string, ca: string, name: string, commonName: string, extensions: string, days = 30): CertPair {
  writeFileSync(join(dir, `${name}.ext`), `${extensions}\n`);
  openssl(dir, ['req', ...KEY_ARGS, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`]);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', String(Date.now() + Math.floor(Math.random() * 1e6)),
    '-days', String(days), '-extfile', `${name}.ext`, '-out', `${name}.crt`,
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

const SERVER_EXT = 'extendedKeyUsage=serverAuth';
const CLIENT_EXT = 'extendedKeyUsage=clientAuth';

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'sensorflow-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  const server = issue(dir, 'ca', 'server', 'localhost', `subjectAltName=IP:127.0.0.1,DNS:localhost\n${SERVER_EXT}`);
  // notBefore = now, notAfter = a day ago: expired as soon as it exists.
  const serverExpired = issue(dir, 'ca', 'server-expired', 'localhost', `subjectAltName=IP:127.0.0.1,DNS:localhost\n${SERVER_EXT}`, -1);
  const serverWrongHost = issue(dir, 'ca', 'server-wrong-host', 'broker.example.com', `subjectAltName=DNS:broker.example.com\n${SERVER_EXT}`);
  const issued = new Map<string, CertPair>();
  const client = (ca: string, days = 30) => (commonName: string): CertPair => {
    const name = `client-${ca}-${days}-${commonName.replace(/[^A-Za-z0-9-]/g, '_')}`;
    let pair = issued.get(name);
    if (pair === undefined) {
      pair = issue(dir, ca, name, commonName, CLIENT_EXT, days);
      issued.set(name, pair);
    }
    return pair;
  };
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    otherCa: join(dir, 'other-ca.crt'),
    server,
    serverExpired,
    serverWrongHost,
    client: client('ca'),
    clientOfOtherCa: client('other-ca'),
    clientExpired: client('ca', -1),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * mosquitto.conf lines for a TLS listener on the harness's port that demands a
 * client certificate from `ca` and takes the certificate's CN as the username,
 * so the ACL's %u is the identity the CA vouched for.
 */
export function mosquittoTlsConfig(pki: TestPki, server: CertPair = pki.server): string[] {
  return [
    `cafile ${pki.ca}`,
    `certfile ${server.cert}`,
    `keyfile ${server.key}`,
    'require_certificate true',
    'use_identity_as_username true',
  ];
}

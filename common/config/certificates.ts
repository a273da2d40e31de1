/**
 * CA bundles that settings name (MQTT_CA_FILE, INFLUX_CA_FILE,
 * NOTIFIER_CA_FILE): read and checked at start-up, so a wrong path or a file
 * that holds no certificate is one configuration error naming the setting,
 * not a TLS failure on the first connection.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, readSettingFile, type ReadFile } from './schema.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The file's content when it holds at least one PEM certificate and each one
 * parses. A CA's own certificate, a chain, or a self-signed server
 * certificate all qualify: whatever the server's certificate chains to.
 */
export function readCaFile(variable: string, path: string, readFile: ReadFile = readFileSync): Buffer {
  const content = readSettingFile(variable, path, readFile);
  const blocks = content.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(variable, path, 'expected a PEM file with the CA certificate(s) to trust (-----BEGIN CERTIFICATE-----), but it has none');
  }
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(variable, path, `expected PEM CA certificates, but certificate ${index + 1} of ${blocks.length} does not parse (${(error as Error).message})`);
    }
  }
  return content;
}

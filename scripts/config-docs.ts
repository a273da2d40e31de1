/**
 * `npm run config-docs`: rewrites the configuration tables of
 * docs/configuration.md from the programs' schemas (each between
 * `<!-- config:start NAME -->` and `<!-- config:end NAME -->`). `--check`
 * changes nothing and exits 1 when the page is stale
 * (test/unit/config-schema.test.ts does the same).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderBlocks } from '../common/config/docs.ts';
import type { Schema } from '../common/config/schema.ts';
import { COMMON_SCHEMA } from '../common/settings.ts';
import { BROKER_SCHEMA } from '../broker/dev/settings.ts';
import { EMQX_USERS_SCHEMA } from '../broker/emqx/settings.ts';
import { SETUP_SCHEMA } from '../influxdb/settings.ts';
import { INGESTOR_SCHEMA } from '../ingestor/settings.ts';
import { NOTIFIER_SCHEMA } from '../notifier/settings.ts';
import { SIMULATOR_SCHEMA } from '../simulator/settings.ts';
import { STACK_SCHEMA } from './stack/settings.ts';

/** Every program's schema, by the name of its block in docs/configuration.md. */
export const SCHEMAS: Readonly<Record<string, Schema>> = {
  ingestor: INGESTOR_SCHEMA,
  common: COMMON_SCHEMA,
  notifier: NOTIFIER_SCHEMA,
  simulator: SIMULATOR_SCHEMA,
  broker: BROKER_SCHEMA,
  setup: SETUP_SCHEMA,
  stack: STACK_SCHEMA,
  'emqx-users': EMQX_USERS_SCHEMA,
};

/** The page that holds every generated table. */
export const CONFIGURATION_PAGE = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

export function renderConfigurationPage(page: string): string {
  return renderBlocks(page, SCHEMAS);
}

if (process.argv[1] !== undefined && /[\\/]scripts[\\/]config-docs\.[jt]s$/.test(process.argv[1])) {
  const current = readFileSync(CONFIGURATION_PAGE, 'utf8');
  const wanted = renderConfigurationPage(current);
  if (process.argv.includes('--check')) {
    if (wanted !== current) {
      process.stderr.write('config-docs: docs/configuration.md\'s tables are stale: run npm run config-docs\n');
      process.exit(1);
    }
  } else if (wanted !== current) {
    writeFileSync(CONFIGURATION_PAGE, wanted);
    process.stdout.write('config-docs: docs/configuration.md updated\n');
  } else {
    process.stdout.write('config-docs: docs/configuration.md already up to date\n');
  }
}

/**
 * The compose stack's one-shot `emqx-users` service: writes EMQX's bootstrap
 * users file (broker/emqx/users.ts: hashed, no password in it) from the
 * passwords in `.env`, into the
 * volume EMQX reads it from. EMQX starts after it has finished.
 *
 * Environment: MQTT_MONITOR_PASSWORD, MQTT_GATEWAY_PASSWORD (or _FILE),
 * MQTT_DEVICES_FILE, EMQX_BOOTSTRAP_FILE (settings.ts). Exit 2 with one line
 * on a missing password, a bad devices file, an EMQX_DASHBOARD_PASSWORD or
 * EMQX_NODE_COOKIE that EMQX would misread (hocon-env.ts) or, with
 * SENSORFLOW_ENV=production, a development default.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { refuseDevelopmentSecrets } from '../../common/production.ts';
import { read } from '../../common/config/schema.ts';
import { commandLine } from '../../common/cli.ts';
import { COMMON_SCHEMA } from '../../common/settings.ts';
import { emqxEnvProblems } from './hocon-env.ts';
import { EMQX_USERS, EMQX_USERS_REFUSES, EMQX_USERS_SCHEMA } from './settings.ts';
import { BootstrapError, bootstrapFileContent, bootstrapUsers, hashedBootstrapUsers } from './users.ts';

// --help, --version and unknown flags first: nothing is read or written before.
commandLine({
  name: 'emqx-users',
  usage: `Usage: node dist/broker/emqx/bootstrap.js   (compose: the one-shot emqx-users service)

Writes EMQX's bootstrap users file (EMQX_BOOTSTRAP_FILE): the users monitor
(the ingestor) and gateway (the simulator, field gateways), and one user per
device from MQTT_DEVICES_FILE. EMQX adds the users it does not have yet.
Exit codes: 0 written, 2 a missing password, a bad devices file or (with
SENSORFLOW_ENV=production) a development default.

Flags
`,
  schemas: [EMQX_USERS_SCHEMA, COMMON_SCHEMA],
});
refuseDevelopmentSecrets(process.env, EMQX_USERS_REFUSES, 'emqx-users');
// In every environment: EMQX would read these cut short, without a word (hocon-env.ts).
const misread = emqxEnvProblems(process.env);
if (misread.length > 0) {
  for (const problem of misread) process.stderr.write(`emqx-users: invalid configuration: ${problem}\n`);
  process.exit(2);
}
try {
  const path = read(process.env, EMQX_USERS.EMQX_BOOTSTRAP_FILE);
  const users = bootstrapUsers(process.env);
  mkdirSync(dirname(path), { recursive: true });
  // 0640: EMQX's container user shares the group id (1000) of this image's `node` user.
  // The last file's salts are kept for unchanged passwords: EMQX then finds each record equal to what it holds.
  const previous = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  writeFileSync(`${path}.tmp`, bootstrapFileContent(hashedBootstrapUsers(users, previous)), { mode: 0o640 });
  renameSync(`${path}.tmp`, path);
  const devices = users.length - 2;
  process.stdout.write(`emqx-users: monitor, gateway and ${devices} device user${devices === 1 ? '' : 's'} written to ${path} (EMQX adds users it does not have yet; it never changes an existing user's password)\n`);
} catch (error) {
  if (!(error instanceof BootstrapError)) throw error;
  process.stderr.write(`emqx-users: invalid configuration: ${error.message}\n`);
  process.exit(2);
}

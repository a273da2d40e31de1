/**
 * EMQX reads every `EMQX_*` environment variable as HOCON, not as a plain
 * string: hocon_tconf parses `fake_key=<value>` (emqx/hocon 0.43.4, the
 * version EMQX 5.8.6's rebar.config pins). An unquoted value is cut at `#`
 * or `//` (comments), loses its spaces, and `true`, `null` or `12` change
 * type: `abc#def` becomes `abc`, without a word. Quoting in compose cannot
 * be trusted either (a `"` or `\` in the value breaks the quotes), so the
 * values compose hands to EMQX as secrets are checked here, by emqx-users,
 * before EMQX starts with them. Pure.
 */

/** What HOCON reads back unchanged as an unquoted string: letters, digits and `.`, `_`, `-`, `~`. */
const SAFE = /^[A-Za-z0-9._~-]+$/;
/** HOCON reads these as booleans, null or numbers, not as the string. */
const NOT_A_STRING = /^(true|false|yes|no|on|off|null|[0-9]+(\.[0-9]*)?([eE][0-9]+)?)$/i;

/** The variables of docker-compose.yml's `emqx` service that come from .env as they are. */
export const EMQX_ENV_SECRETS = ['EMQX_DASHBOARD_PASSWORD', 'EMQX_NODE_COOKIE'] as const;

/** Why EMQX would not read `value` back as that exact string, or undefined. Never echoes the value (a secret). */
export function hoconEnvValueProblem(value: string): string | undefined {
  if (value === '') return 'it is empty';
  if (!SAFE.test(value)) {
    const bad = [...new Set([...value].filter((char) => !SAFE.test(char)))].map((char) => (char === ' ' ? 'a space' : JSON.stringify(char)));
    return `it holds ${bad.join(', ')}, which EMQX's HOCON parsing of EMQX_* variables would cut short or change (a "#" or "//" starts a comment there)`;
  }
  if (NOT_A_STRING.test(value)) return 'HOCON would read it as a boolean, null or a number, not as a string';
  return undefined;
}

/** One line per variable EMQX would misread, each naming it and what is expected. */
export function emqxEnvProblems(env: Readonly<Record<string, string | undefined>>): string[] {
  const problems: string[] = [];
  for (const name of EMQX_ENV_SECRETS) {
    const value = env[name];
    if (value === undefined) continue;
    const problem = hoconEnvValueProblem(value);
    if (problem !== undefined) problems.push(`${name}: ${problem}; expected letters, digits, ".", "_", "-" or "~" only (e.g. openssl rand -hex 24)`);
  }
  return problems;
}

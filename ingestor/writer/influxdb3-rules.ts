/**
 * InfluxDB 3's rules that a setting must meet before anything is sent, read
 * at influxdata/influxdb v3.10.1. Pure.
 */

/** `MAXIMUM_DATABASE_NAME_LENGTH` (`influxdb3_server/src/http.rs` l. 2350–2353): v1's 255 + `/` + 255. */
export const V3_DATABASE_NAME_MAX_BYTES = 511;

/**
 * What is wrong with a database name in InfluxDB 3's eyes, in its own words,
 * or undefined when it is accepted (`validate_db_name`, `influxdb3_server/src/http.rs`
 * l. 2301–2348; its messages `ValidateDbNameError`, l. 2355–2372). Both the
 * writes (`write_lp_inner`) and `POST /api/v3/configure/database` check it;
 * a write to a refused name is a 400 that names no line, which would be
 * retried forever: so the ingestor and `npm run setup` refuse it at start.
 *
 * ASCII only; starts with a letter or digit; then letters, digits, `_`, `-`,
 * and at most one `/` (a v1 `db/rp` pair), not at the end; 1–511 bytes.
 */
export function v3DatabaseNameProblem(name: string): string | undefined {
  if (name === '') return 'db name cannot be empty';
  if (Buffer.byteLength(name, 'utf8') > V3_DATABASE_NAME_MAX_BYTES) return `db name too long: max ${V3_DATABASE_NAME_MAX_BYTES}`;
  let separatorSeen = false;
  for (let i = 0; i < name.length; i += 1) {
    const char = name[i] as string;
    const code = name.charCodeAt(i);
    const alphanumeric = /^[A-Za-z0-9]$/.test(char);
    if (code > 0x7f) return 'invalid character in database or rp name: must be ASCII, containing only letters, numbers, underscores, or hyphens';
    if (i === 0) {
      if (!alphanumeric) return 'db name did not start with a number or letter';
      continue;
    }
    if (char === '/') {
      if (separatorSeen) return "db name with invalid retention policy, if providing a retention policy name, must be of form '<db_name>/<rp_name>'";
      separatorSeen = true;
      continue;
    }
    if (!alphanumeric && char !== '_' && char !== '-') return 'invalid character in database or rp name: must be ASCII, containing only letters, numbers, underscores, or hyphens';
  }
  if (name.endsWith('/')) return "db name with invalid retention policy, if providing a retention policy name, must be of form '<db_name>/<rp_name>'";
  return undefined;
}

/** What we ask of a name in a setting: the rule above, in one sentence. */
export const V3_DATABASE_NAME_RULE = 'an InfluxDB 3 database name: ASCII letters, digits, "_" or "-" (and at most one "/" between a database and a retention policy name), starting with a letter or digit, at most 511 bytes';

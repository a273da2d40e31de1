/**
 * scripts/test.sh runs this once before the tests: it starts the tests' own
 * Docker daemon and builds every image test/integration/docker.test.ts runs
 * (test/harness/docker.ts `buildTestImages`). A new machine builds the base
 * stand-in with debootstrap and the project's image with `npm ci` inside it,
 * minutes of work that would otherwise count against the test file's
 * 10-minute budget (`--test-timeout`); a warm machine only checks its cache.
 *
 * Prints one line saying why when Docker cannot run here (the test file then
 * skips with the same line) and exits 0; a failed build exits 1 with its
 * output.
 */
import { buildTestImages, dockerUnavailable, startDocker } from '../harness/docker.ts';

const unavailable = dockerUnavailable();
if (unavailable !== undefined) {
  process.stdout.write(`docker images: skipped: ${unavailable}\n`);
  process.exit(0);
}
const started = Date.now();
const docker = await startDocker();
try {
  await buildTestImages(docker);
  process.stdout.write(`docker images: ready in ${Math.round((Date.now() - started) / 1000)} s\n`);
} finally {
  await docker.stop();
}

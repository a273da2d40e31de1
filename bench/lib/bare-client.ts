/**
 * The yardstick: a bare mqtt.js subscriber that resumes a persistent session,
 * parses each message's JSON and acknowledges it (mqtt.js's own PUBACK path),
 * nothing else. Run as its own process, like the ingestor:
 *
 *   node --import tsx bench/lib/bare-client.ts URL CLIENT_ID COUNT
 *
 * Prints JSON lines on stdout: {"atMs","count"} every 100 ms, then
 * {"done":true,"firstAtMs","lastAtMs","count","cpuSeconds"} once COUNT
 * messages arrived (CPU from the first message to the last).
 */
import mqtt, { type IPublishPacket } from 'mqtt';
import { SESSION_EXPIRY_S } from './backlog.ts';

const [url, clientId, countArgument] = process.argv.slice(2);
const expected = Number(countArgument);
if (url === undefined || clientId === undefined || !(expected > 0)) {
  process.stderr.write('usage: bare-client.ts URL CLIENT_ID COUNT\n');
  process.exit(2);
}

const now = (): number => performance.timeOrigin + performance.now();
let count = 0;
let firstAtMs = 0;
let lastAtMs = 0;
let parsedBytes = 0;
let cpuAtFirst = process.cpuUsage();

const client = mqtt.connect(url, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: SESSION_EXPIRY_S }, reconnectPeriod: 0 });
const progress = setInterval(() => process.stdout.write(`${JSON.stringify({ atMs: now(), count })}\n`), 100);
client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void): void => {
  const parsed = JSON.parse(packet.payload.toString()) as Record<string, unknown>;
  parsedBytes += Object.keys(parsed).length; // keep the parse from being optimised away
  count += 1;
  if (count === 1) {
    firstAtMs = now();
    cpuAtFirst = process.cpuUsage();
  }
  if (count === expected) {
    lastAtMs = now();
    const cpu = process.cpuUsage(cpuAtFirst);
    clearInterval(progress);
    process.stdout.write(`${JSON.stringify({ atMs: lastAtMs, count })}\n${JSON.stringify({ done: true, firstAtMs, lastAtMs, count, cpuSeconds: (cpu.user + cpu.system) / 1e6, parsedKeys: parsedBytes })}\n`);
    // Acknowledge the last one, then leave (the session is not needed again).
    done();
    setImmediate(() => void client.endAsync().then(() => process.exit(0)));
    return;
  }
  done();
};
client.on('error', (error) => {
  process.stderr.write(`bare client: ${error.message}\n`);
  process.exit(1);
});

// Preloaded into the development broker standing in for EMQX
// (node --import, test/docker/compose.stand-ins.yml): EMQX listens on 1883
// (devices), 1884 (the ingestor) and 1885 (gateways), the development broker
// on one port. STANDIN_FORWARD="1884,1885" forwards those ports to
// BROKER_PORT, so the compose file's MQTT_URLs stay as they are.
import { connect, createServer } from 'node:net';

const target = Number(process.env.BROKER_PORT ?? 1883);
for (const port of (process.env.STANDIN_FORWARD ?? '').split(',').filter(Boolean).map(Number)) {
  createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  })
    .listen(port, '0.0.0.0')
    .unref();
}

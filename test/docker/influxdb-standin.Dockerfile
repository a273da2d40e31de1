# A stand-in for influxdb:2.7.11 (which cannot be pulled on the test machines):
# this machine's InfluxDB 1.x (Debian's influxd) on the stand-in Node base, so
# the health check can use node. The ingestor and setup then talk InfluxDB
# 1.x (INFLUX_API=v1, test/docker/compose.stand-ins.yml). Built by
# test/harness/docker.ts with the host's influxd in the context.
FROM node:24-bookworm-slim
COPY influxd /usr/bin/influxd
# The compose file's data volume is mounted at /var/lib/influxdb2; 1.x keeps its
# metadata, data and write-ahead log there too, so a restart keeps them.
ENV INFLUXDB_REPORTING_DISABLED=true \
    INFLUXDB_BIND_ADDRESS=127.0.0.1:8088 \
    INFLUXDB_META_DIR=/var/lib/influxdb2/meta \
    INFLUXDB_DATA_DIR=/var/lib/influxdb2/data \
    INFLUXDB_DATA_WAL_DIR=/var/lib/influxdb2/wal \
    INFLUXDB_DATA_QUERY_LOG_ENABLED=false \
    INFLUXDB_HTTP_BIND_ADDRESS=:8086 \
    INFLUXDB_HTTP_LOG_ENABLED=false
RUN mkdir -p /var/lib/influxdb2 && chown node:node /var/lib/influxdb2
USER node
CMD ["/usr/bin/influxd"]

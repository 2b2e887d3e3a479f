"""``python -m libs.localinfra.fetch``: fetch Apache Kafka's jars now (cached), unless a server is configured."""

from __future__ import annotations

import os

from libs.localinfra.kafka import ensure_jars

if __name__ == "__main__":
    if not os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"):
        ensure_jars(progress=print)

"""Throwaway Apache Kafka (KRaft) and PostgreSQL servers on loopback, for the demo, tests and benchmarks.

Used only where no Docker engine exists and no ``BATCHYARD_KAFKA_BOOTSTRAP`` / ``BATCHYARD_DATABASE_URL``
points at existing servers. Kafka's jars come from Maven Central through the installed ``mvn``; PostgreSQL
runs from the installed server binaries in a temporary data directory.
"""

from libs.localinfra.kafka import KafkaServer
from libs.localinfra.postgres import PostgresServer

__all__ = ["KafkaServer", "PostgresServer"]

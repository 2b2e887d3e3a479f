"""Settings shared by every service, from ``BATCHYARD_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import re
import ssl
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSecurity(BaseSettings):
    """Transport security to Kafka. PLAINTEXT on loopback for dev; SASL_SSL with SCRAM in production."""

    model_config = SettingsConfigDict(env_prefix="BATCHYARD_KAFKA_", extra="ignore")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """Returns the TLS context for the SSL protocols (the CA file, and a client certificate if given)."""
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context


class Settings(BaseSettings):
    """One service's settings; every field can be set as BATCHYARD_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="BATCHYARD_", extra="ignore")

    service: str = Field(default="batchyard", description="Service name: consumer group, schema, producer.")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/batchyard")
    topic_namespace: str = Field(default="", description="Prefix for every topic name (isolates runs).")
    instance_id: str = Field(default="", description="Distinguishes replicas; defaults to host:pid.")
    ensure_topics: bool = Field(default=True, description="Apply the topic catalog at start-up (off for in-memory tests).")
    max_attempts: int = Field(default=3, ge=1, le=20, description="Handling attempts before dead-lettering.")
    retry_backoff_s: float = Field(default=0.2, ge=0, description="First retry delay; doubles each attempt.")
    outbox_batch: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_s: float = Field(default=0.05, gt=0, description="Outbox relay idle poll interval.")
    pool_size: int = Field(default=5, ge=1, le=100)
    startup_wait_s: float = Field(default=300.0, ge=0, description="Start-up: how long to wait for Kafka, then "
                                  "PostgreSQL, to answer before exiting (seconds, each; 0: fail at once).")
    fleet_spec: str = Field(default="deploy/fleet/demo.yaml", description="Simulated fleet (sim connector).")
    quota_config: str = Field(default="deploy/quota/demo.yaml", description="Kueue-shaped quota YAML (quota).")
    repair_config: str = Field(default="deploy/fleet/repair.yaml",
                               description="Node-repair policy YAML: thresholds, budgets, rate limits (node-repair).")
    time_scale: float = Field(default=60.0, gt=0, description="Simulated seconds per wall second (sim).")
    cost_close_grace_s: float = Field(default=3600.0, ge=0,
                                      description="Event time a node-hour stays open after it ends (cost).")
    cost_close_period_s: float = Field(default=1.0, gt=0, description="How often the cost hour closer runs.")
    metrics_port: int = Field(default=0, ge=0, le=65535, description="Serve Prometheus /metrics here (0: off).")
    spans_file: str = Field(default="", description="Append finished spans as JSON to this file (empty: off).")
    admission_keyring: str = Field(default="deploy/admission/keyring.yaml",
                                   description="Admission: YAML keyring of trusted public keys (hot-reloaded).")
    admission_policy: str = Field(default="deploy/admission/policy.yaml",
                                  description="Admission: per-tenant policy YAML (hot-reloaded).")
    admission_reload_s: float = Field(default=2.0, ge=0, description="Admission: how often to check the "
                                      "keyring and policy files for changes (seconds).")
    scheduler_policy: str = Field(default="deploy/scheduler/policy.yaml",
                                  description="Scheduler: YAML of the node-scoring strategy per pool (binpack, fgd...).")
    scheduler_preemption: bool = Field(default=True, description="Scheduler: evict lower-priority gangs (node level) "
                                       "when a higher-priority workload cannot fit.")
    scheduler_min_runtime_s: float = Field(default=300.0, ge=0, description="Scheduler: a gang runs at least this "
                                           "long (wall seconds) before node-level preemption may evict it.")
    scheduler_standby_poll_s: float = Field(default=0.5, gt=0, description="Scheduler: how often a standby tries "
                                            "to take the leader lock (seconds).")
    batch_max_records: int = Field(default=500, ge=1, le=10_000, description="Batch services: most records "
                                   "handled in one transaction.")
    batch_timeout_ms: int = Field(default=50, ge=0, description="Batch services: longest wait to fill a batch.")
    kafka_linger_ms: int = Field(default=5, ge=0, le=1000, description="Producer: how long to wait to fill a "
                                 "batch before sending (ms); trades that much latency for less CPU per event.")
    kafka_max_batch_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024,
                                       description="Producer: largest batch per partition (bytes).")
    kube_connector_config: str = Field(default="deploy/kube/connector.yaml",
                                       description="Kubernetes connector: its YAML (cluster, tenants, prices).")
    kubeconfig: str = Field(default="", description="Kubernetes connector: kubeconfig of its cluster (overrides "
                            "the config's; empty and none there: in-cluster service account).")
    kafka_security: KafkaSecurity = Field(default_factory=KafkaSecurity)

    def for_service(self, service: str) -> "Settings":
        """Returns a copy for ``service`` (names the consumer group, schema and producer)."""
        return self.model_copy(update={"service": service})

    @property
    def schema(self) -> str:
        """Returns this service's Postgres schema: one per service."""
        return re.sub(r"[^a-z0-9_]", "_", self.service.lower())

    @property
    def group_id(self) -> str:
        ns = f"{self.topic_namespace}." if self.topic_namespace else ""
        return f"{ns}batchyard.{self.service}"

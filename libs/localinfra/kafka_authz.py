"""A local Kafka that authorizes: SASL_SSL (SCRAM-SHA-512) with the KRaft StandardAuthorizer, and optionally
mutual TLS. For the isolation tests, the secured benchmark and ``batchyard infra up --secure``.

Every principal may do only what an ACL allows (``allow.everyone.if.no.acl.found=false``); the admins and the
broker itself are super users. The KRaft controller listener speaks mutual TLS: only a client with a
certificate from the broker's CA gets in, as the principal its CN names (the broker's own, ``broker``), so no
anonymous principal exists anywhere.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from libs.localinfra.kafka import BROKER_USER, KafkaServer
from libs.localinfra.tls import ThrowawayCA

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@dataclass
class AuthorizingKafkaServer(KafkaServer):
    """``KafkaServer`` with SCRAM users (``scram_users``, required), ACLs enforced and ``admins`` as super users.

    ``client_certificates``: the SASL_SSL listener also requires a client certificate signed by the broker's
    throwaway CA (mutual TLS); ``client_certificate(name)`` makes one.
    """

    admins: tuple[str, ...] = ("admin",)
    client_certificates: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.scram_users or not set(self.admins) <= set(self.scram_users):
            raise ValueError("an authorizing Kafka needs scram_users, the admins among them")

    def _security_config(self) -> list[str]:
        lines = [line for line in super()._security_config() if not line.startswith("ssl.client.auth=")]
        supers = ";".join(f"User:{name}" for name in (BROKER_USER, *self.admins))
        tls = self.workdir / "tls"
        # the broker's certificate for its controller listener, and for the SASL_SSL one when that requires client
        # certificates: valid as a server's and as a client's, since the broker checks it against itself
        cert, key = ThrowawayCA.existing(tls).peer("broker-peer", BROKER_USER)
        peer_store = tls / "peer-keystore.pem"
        peer_store.write_text(key.read_text() + cert.read_text() + (tls / "ca.crt").read_text())
        peer_store.chmod(0o600)
        if self.client_certificates:
            lines = [f"ssl.keystore.location={peer_store}" if line.startswith("ssl.keystore.location=") else line
                     for line in lines]
        return [*lines, f"authorizer.class.name={AUTHORIZER}", f"super.users={supers}",
                "allow.everyone.if.no.acl.found=false",
                # a SASL_SSL listener honours client authentication only when set per listener (KIP-684)
                f"listener.name.sasl_ssl.ssl.client.auth={'required' if self.client_certificates else 'none'}",
                # the controller listener: mutual TLS, its principal the certificate's CN (the broker's own)
                "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
                "listener.name.controller.ssl.client.auth=required",
                "listener.name.controller.ssl.keystore.type=PEM",
                f"listener.name.controller.ssl.keystore.location={peer_store}",
                "listener.name.controller.ssl.truststore.type=PEM",
                f"listener.name.controller.ssl.truststore.location={tls / 'ca.crt'}",
                "listener.name.controller.ssl.principal.mapping.rules=RULE:^CN=([A-Za-z0-9._-]+)$/$1/,DEFAULT"]

    def client_certificate(self, name: str) -> tuple[Path, Path]:
        """Returns (certificate, key) of a client certificate for ``name``, signed by the broker's CA."""
        return ThrowawayCA.existing(self.workdir / "tls").client(f"client-{name}", name)

    def client_options(self, username: str, password: str | None = None) -> dict:
        options = super().client_options(username, password)
        if self.client_certificates:  # the probe and the tests' clients present a certificate of their own
            cert, key = self.client_certificate(username)
            context: ssl.SSLContext = options["ssl_context"]
            context.load_cert_chain(str(cert), str(key))
        return options

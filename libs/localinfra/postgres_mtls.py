"""A local PostgreSQL that requires client certificates (mutual TLS), for the mutual-TLS tests.

``PostgresServer(tls=True)`` refuses anything but TLS; this one also refuses a client that presents no
certificate signed by the server's throwaway CA, or one whose CN is not the role it logs in as
(``clientcert=verify-full``), on top of each role's SCRAM password. ``client_certificate(role)`` makes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from libs.localinfra.postgres import PostgresServer
from libs.localinfra.tls import ThrowawayCA

_MTLS_HBA = """# written by MutualTlsPostgresServer: TLS with a client certificate whose CN is the role, and a password
hostnossl all all all reject
hostssl all postgres 127.0.0.1/32 trust clientcert=verify-full
hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full
"""


@dataclass
class MutualTlsPostgresServer(PostgresServer):
    tls: bool = True

    def _tls_options(self, user: dict) -> list[str]:
        options = super()._tls_options(user)
        (self.workdir / "tls" / "pg_hba.conf").write_text(_MTLS_HBA)
        return [*options, "-c", f"ssl_ca_file={self.ca_file}"]

    def client_certificate(self, role: str) -> tuple[Path, Path]:
        """Returns (certificate, key) for ``role`` (its CN), signed by the server's CA."""
        return ThrowawayCA.existing(self.workdir / "tls").client(f"pg-client-{role}", role)

    def _dsn(self, database: str) -> str:
        cert, key = self.client_certificate("postgres")  # the superuser's own certificate, for the admin DSN
        return f"{super()._dsn(database)}&sslcert={quote(str(cert))}&sslkey={quote(str(key))}"

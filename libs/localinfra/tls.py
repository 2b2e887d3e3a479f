"""A throwaway certificate authority for the local servers' TLS (made with ``openssl``).

For local servers only: the CA's key stays next to it, unprotected, and dies with its directory.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from libs.localinfra._proc import InfraError


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and one server certificate signed by it, for 127.0.0.1 and localhost (PEM files)."""

    ca_cert: Path
    cert: Path
    key: Path  # unencrypted PKCS#8: Kafka's PEM keystore and PostgreSQL both read it as is


_OPENSSL_CONFIG = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = batchyard
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {sans}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[peer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = {sans}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
LOOPBACK_SANS = ("IP:127.0.0.1", "DNS:localhost")


class ThrowawayCA:
    """A CA in ``directory`` (``ca.crt``, ``ca.key``) that signs server and client certificates (EC P-256)."""

    def __init__(self, directory: Path, *, days: int = 2, server_sans: tuple[str, ...] = LOOPBACK_SANS) -> None:
        if shutil.which("openssl") is None:
            raise InfraError("openssl is not on PATH: it is needed to make the throwaway TLS certificates")
        self.directory, self.days = directory, days
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "openssl.cnf"
        self.config.write_text(_OPENSSL_CONFIG.format(sans=",".join(server_sans)))
        self.cert, self.key = directory / "ca.crt", directory / "ca.key"
        _openssl(["req", "-x509", "-new", "-config", self.config, "-extensions", "ca", *_NEW_KEY, "-keyout",
                  self.key, "-out", self.cert, "-days", str(days), "-subj", "/CN=batchyard throwaway CA"])
        self.key.chmod(0o600)

    @classmethod
    def existing(cls, directory: Path, *, days: int = 2) -> "ThrowawayCA":
        """Returns the CA already made in ``directory`` (e.g. by make_tls_files), to sign more certificates."""
        ca = cls.__new__(cls)
        ca.directory, ca.days, ca.config = directory, days, directory / "openssl.cnf"
        ca.cert, ca.key = directory / "ca.crt", directory / "ca.key"
        if not (ca.cert.exists() and ca.key.exists() and ca.config.exists()):
            raise InfraError(f"no throwaway CA in {directory}")
        return ca

    def server(self, name: str, common_name: str = "localhost") -> tuple[Path, Path]:
        """Returns (certificate, key) of a server certificate for the CA's server names."""
        return self._sign(name, f"/CN={common_name}", "server")

    def peer(self, name: str, common_name: str) -> tuple[Path, Path]:
        """Returns (certificate, key) valid both as a server's and as a client's, for the CA's server names (a
        broker that requires client certificates checks its own against itself)."""
        return self._sign(name, f"/CN={common_name}", "peer")

    def client(self, name: str, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """Returns (certificate, key) of a client certificate: CN is the user, each O a group (as Kubernetes
        reads them)."""
        subject = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        return self._sign(name, subject, "client")

    def _sign(self, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
        cert, key, csr = (self.directory / f"{name}{ext}" for ext in (".crt", ".key", ".csr"))
        _openssl(["req", "-new", "-config", self.config, *_NEW_KEY, "-keyout", key, "-out", csr, "-subj", subject])
        _openssl(["x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-set_serial",
                  str(secrets.randbits(63)), "-days", str(self.days), "-extfile", self.config, "-extensions",
                  extensions, "-out", cert])
        key.chmod(0o600)
        return cert, key


def make_tls_files(directory: Path, *, days: int = 2) -> TlsFiles:
    """Creates a throwaway CA and a server key and certificate it signs, for 127.0.0.1 and localhost."""
    ca = ThrowawayCA(directory, days=days)
    cert, key = ca.server("server")
    return TlsFiles(ca_cert=ca.cert, cert=cert, key=key)


def make_signing_key(path: Path) -> tuple[Path, Path]:
    """Creates an EC P-256 key pair in PEM (e.g. for service-account tokens): returns (private, public), the
    public one beside the private one with ``.pub`` appended."""
    public = path.with_name(path.name + ".pub")
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
    _openssl(["pkey", "-in", path, "-pubout", "-out", public])
    path.chmod(0o600)
    return path, public


def _openssl(args: list) -> None:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise InfraError(f"openssl {args[0]} failed:\n{done.stdout}{done.stderr}")

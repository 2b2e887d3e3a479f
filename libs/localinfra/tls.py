"""A throwaway certificate authority for the local servers' opt-in TLS (made with ``openssl``)."""

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
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_tls_files(directory: Path, *, days: int = 2) -> TlsFiles:
    """Creates, with ``openssl``, a throwaway CA and a server key and certificate it signs (EC P-256).

    For local servers only: the CA's key stays next to it, unprotected, and dies with ``directory``.
    """
    if shutil.which("openssl") is None:
        raise InfraError("openssl is not on PATH: it is needed to make the throwaway TLS certificates")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    files = TlsFiles(ca_cert=directory / "ca.crt", cert=directory / "server.crt", key=directory / "server.key")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-x509", "-new", "-config", config, "-extensions", "ca", *new_key, "-keyout", directory / "ca.key",
         "-out", files.ca_cert, "-days", str(days), "-subj", "/CN=batchyard throwaway CA"],
        ["req", "-new", "-config", config, *new_key, "-keyout", files.key, "-out", directory / "server.csr",
         "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", directory / "server.csr", "-CA", files.ca_cert, "-CAkey", directory / "ca.key",
         "-set_serial", str(secrets.randbits(63)), "-days", str(days), "-extfile", config, "-extensions", "server",
         "-out", files.cert],
    ]
    for step in steps:
        done = subprocess.run(["openssl", *map(str, step)], capture_output=True, text=True)
        if done.returncode != 0:
            raise InfraError(f"openssl {step[0]} failed:\n{done.stdout}{done.stderr}")
    for key in (files.key, directory / "ca.key"):
        key.chmod(0o600)
    return files

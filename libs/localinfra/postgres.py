"""A throwaway PostgreSQL from the installed server binaries, in a temporary data directory on a free port."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from libs.localinfra._proc import InfraError, _alive, die_with_parent, free_port, run_coroutine, stop_group, wait_until
from libs.localinfra.tls import make_tls_files

UNPRIVILEGED_USER = "nobody"  # initdb and postgres refuse to run as root

# pg_hba.conf of a server started with tls=True: TCP only, and only over TLS. The superuser keeps the dev
# default (trust, from loopback); every other role, e.g. one per service, must present its SCRAM password.
_TLS_HBA = """# written by PostgresServer(tls=True): connections without TLS are refused
hostnossl all all all reject
hostssl all postgres 127.0.0.1/32 trust
hostssl all all 127.0.0.1/32 scram-sha-256
"""


def find_bindir() -> Path:
    """Returns the directory of the newest installed PostgreSQL server binaries (or ``BATCHYARD_PG_BINDIR``)."""
    if env := os.environ.get("BATCHYARD_PG_BINDIR"):
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    if exe := shutil.which("postgres"):
        return Path(exe).parent
    raise InfraError("no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH); "
                     "install them or set BATCHYARD_DATABASE_URL to an existing server")


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in ``workdir`` on 127.0.0.1; ``start()`` returns once it runs queries.

    Opt-in transport security: ``tls=True`` turns ``ssl`` on with a certificate from a throwaway CA in
    ``workdir/tls`` (see ``ca_file``) and refuses every connection without TLS (``hostssl`` only, see _TLS_HBA).
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    database: str = "batchyard"
    pid: int | None = None
    tls: bool = False
    tied: bool = False  # the server dies with the process that started it (throwaway servers; not infra up)

    @property
    def dsn(self) -> str:
        return self._dsn(self.database)

    @property
    def ca_file(self) -> Path:
        """The throwaway CA that signed the server's certificate (``sslrootcert``); only with ``tls``."""
        return self.workdir / "tls" / "ca.crt"

    def _dsn(self, database: str) -> str:
        """Returns the superuser's DSN; with ``tls``, one that verifies the server's certificate and name."""
        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        return f"{dsn}?sslmode=verify-full&sslrootcert={quote(str(self.ca_file))}" if self.tls else dsn

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def start(self, *, timeout: float = 60.0, progress=print) -> "PostgresServer":
        bindir = find_bindir()
        data = self.workdir / "data"
        self.workdir.mkdir(parents=True, exist_ok=True)
        user = self._owner()
        if not (data / "PG_VERSION").exists():
            self._run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                       "--no-sync", "--no-instructions"], user, "initdb")
        tls_options = self._tls_options(user) if self.tls else []
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1", "-k", "",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=300", "-c", "shared_buffers=256MB", *tls_options],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent if self.tied else None, **user)
        self.pid = proc.pid
        try:
            wait_until(self._answers_admin, timeout=timeout, what="PostgreSQL", proc=proc, log=self.log_path)
            self._create_database()
        except InfraError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.pid is not None:
            stop_group(self.pid)
            self.pid = None

    def restart(self, *, timeout: float = 60.0) -> "PostgresServer":
        """Stops the server with a fast shutdown (SIGINT: open sessions are cut, not waited for, as in
        ``pg_ctl restart -m fast``) and starts it again on the same port and data; returns once it runs queries."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)
            with contextlib.suppress(InfraError):
                wait_until(lambda: not _alive(self.pid), timeout=timeout, what="PostgreSQL's fast shutdown",
                           proc=None, log=self.log_path)
            stop_group(self.pid)  # returns at once if it is gone; SIGTERM, then SIGKILL, if the shutdown hung
            self.pid = None
        return self.start(timeout=timeout)

    def _owner(self) -> dict:
        """Returns Popen user/group arguments: as root, hand the workdir to an unprivileged user."""
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
        for path in (self.workdir, *self.workdir.parents):
            if path == Path("/"):
                break
            os.chmod(path, os.stat(path).st_mode | 0o011)  # let the server user traverse down to its dir
        os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _tls_options(self, user: dict) -> list[str]:
        """Makes the certificate and the hostssl-only pg_hba.conf; returns the server's -c options for them."""
        tls = make_tls_files(self.workdir / "tls")
        hba = self.workdir / "tls" / "pg_hba.conf"
        hba.write_text(_TLS_HBA)
        if user:  # the server reads its key only if the key is its own and private to it (0600)
            os.chown(tls.key, user["user"], user["group"])
        options = {"ssl": "on", "ssl_cert_file": tls.cert, "ssl_key_file": tls.key, "hba_file": hba}
        return [arg for name, value in options.items() for arg in ("-c", f"{name}={value}")]

    def _run(self, cmd: list[str], user: dict, what: str) -> None:
        with open(self.log_path, "ab") as log:
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, **user)
        if done.returncode != 0:
            raise InfraError(f"{what} failed with code {done.returncode}; see {self.log_path}")

    def _answers_admin(self) -> bool:
        from libs.localinfra.probe import postgres_ready
        return postgres_ready(self._dsn("postgres"))

    def _create_database(self) -> None:
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(self._dsn("postgres"))
            try:
                exists = await conn.fetchval("select 1 from pg_database where datname = $1", self.database)
                if not exists:
                    await conn.execute(f'create database "{self.database}"')
            finally:
                await conn.close()

        run_coroutine(create)

"""Reading docker-compose.yml the way `docker compose` does, for tests that cannot run Docker:
variable interpolation, and the mlflow service's command turned into a native one."""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from imdb_sweep.server import server_environment
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.processes import free_port, stop_process, wait_for_http

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
AUTH_OVERRIDE_FILE = PROJECT_ROOT / "docker-compose.auth.yml"
AUTH_INI = PROJECT_ROOT / "docker" / "basic_auth.ini"

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and $$."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name)
        if operator == ":-":
            return value if value else argument
        if operator == "-":
            return argument if value is None else value
        if operator == ":?":
            if not value:
                raise ValueError(f"{name}: {argument}")
            return value
        return value or ""

    return _VARIABLE.sub(replace, text)


def mlflow_command(compose: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """The mlflow service's command, interpolated as compose would."""
    return [interpolate(str(argument), env) for argument in compose["services"]["mlflow"]["command"]]


def backend_store_uri(command: list[str]) -> str:
    (uri,) = [argument.split("=", 1)[1] for argument in command
              if argument.startswith("--backend-store-uri=")]
    return uri


def native_command(
    command: list[str], database_host: str, database_port: int, artifacts: Path, port: int,
    backend_scheme: str | None = None,
) -> list[str]:
    """The same server command for this machine: only what exists inside the containers
    changes (the database's service name, the artifacts volume, the bound address).
    `backend_scheme` (e.g. postgresql+psycopg2) replaces the backend URI's scheme."""
    assert command[:2] == ["mlflow", "server"], command
    native = [sys.executable, "-m", "mlflow", "server"]
    for argument in command[2:]:
        if argument.startswith("--host="):
            argument = "--host=127.0.0.1"
        elif argument.startswith("--port="):
            argument = f"--port={port}"
        elif argument.startswith("--backend-store-uri="):
            argument = argument.replace("@postgres:5432/", f"@{database_host}:{database_port}/")
            if backend_scheme:
                _, rest = argument.split("://", 1)
                argument = f"--backend-store-uri={backend_scheme}://{rest}"
        elif argument.startswith("--artifacts-destination="):
            argument = f"--artifacts-destination={artifacts}"
        native.append(argument)
    return native


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL binaries (apt-get install postgresql), or any initdb on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = candidates[0] if candidates else shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str
    # Where a throwaway cluster lives, to stop and start it again (a database restart).
    binaries: Path | None = None
    root: Path | None = None
    options: str = ""

    def connect(self):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, dbname=self.database)

    def stop(self) -> None:
        """Stopped as an administrator restarting it would (fast: open sessions are cut)."""
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.root / "postgres.log"), "-o", self.options, "start")

    def _pg_ctl(self, *arguments: str) -> None:
        assert self.binaries is not None and self.root is not None, "not a throwaway cluster"
        subprocess.run(_as_cluster_owner([str(self.binaries / "pg_ctl"), "-D", str(self.root / "data"), "-w",
                                          *arguments]), capture_output=True, text=True, check=True, cwd=self.root)


def _as_cluster_owner(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as an unprivileged user.
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *command]
    return command


@contextmanager
def throwaway_postgres(binaries: Path) -> Iterator[Postgres]:
    """A PostgreSQL cluster in a temp folder on 127.0.0.1, with user and database `mlflow`."""
    # Not under pytest's tmp dir: its root-only parent folders would lock `nobody` out.
    root = Path(tempfile.mkdtemp(prefix="imdb-sweep-pg-"))
    password = secrets.token_hex(12)
    (root / "pwfile").write_text(password + "\n")
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("nobody")
        for path in (root, root / "pwfile"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    data = root / "data"
    run = lambda command: subprocess.run(  # noqa: E731
        _as_cluster_owner(command), capture_output=True, text=True, check=True, cwd=root)
    run([str(binaries / "initdb"), "-D", str(data), "-U", "mlflow", "--pwfile", str(root / "pwfile"),
         "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"])
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    run([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log"), "-o", options,
         "-w", "start"])
    cluster = Postgres("127.0.0.1", port, "mlflow", password, "mlflow", binaries, root, options)
    try:
        import psycopg

        with psycopg.connect(host=cluster.host, port=port, user="mlflow", password=password,
                             dbname="postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE mlflow")
        yield cluster
    finally:
        subprocess.run(_as_cluster_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                          "stop"]), capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def compose_env(cluster: Postgres) -> dict[str, str]:
    return {"POSTGRES_USER": cluster.user, "POSTGRES_PASSWORD": cluster.password,
            "POSTGRES_DB": cluster.database}


def start_compose_server(
    compose: dict, cluster: Postgres, workdir: Path, env: dict[str, str] | None = None,
    backend_scheme: str | None = None,
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = native_command(
        mlflow_command(compose, compose_env(cluster)),
        cluster.host, cluster.port, workdir / "artifacts", port, backend_scheme)
    with open(workdir / "server.log", "wb") as log:  # the server writes to its own copy
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                                   env=server_environment({**os.environ, **(env or {})}))
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(uri + "/health", process)
    except RuntimeError as error:
        stop_process(process)
        raise RuntimeError((workdir / "server.log").read_text()[-3000:]) from error
    return process, uri

"""Reading docker-compose.yml the way `docker compose` does, for tests that cannot run Docker:
variable interpolation, and the mlflow service's command turned into a native one."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
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


def native_command(
    command: list[str], database_host: str, database_port: int, artifacts: Path, port: int
) -> list[str]:
    """The same server command for this machine: only what exists inside the containers
    changes (the database's service name, the artifacts volume, the bound address)."""
    assert command[:2] == ["mlflow", "server"], command
    native = [sys.executable, "-m", "mlflow", "server"]
    for argument in command[2:]:
        if argument.startswith("--host="):
            argument = "--host=127.0.0.1"
        elif argument.startswith("--port="):
            argument = f"--port={port}"
        elif argument.startswith("--backend-store-uri="):
            argument = argument.replace("@postgres:5432/", f"@{database_host}:{database_port}/")
        elif argument.startswith("--artifacts-destination="):
            argument = f"--artifacts-destination={artifacts}"
        native.append(argument)
    return native

"""docker-compose.yml and its basic-auth override, checked without Docker (which does not
run on our machines); tests/e2e/test_postgres.py runs the server command they declare."""

from __future__ import annotations

import configparser
import re

import pytest

from tests.helpers import compose_file
from tests.helpers.compose_file import AUTH_INI, PROJECT_ROOT, interpolate, load, mlflow_command

ENV = {"POSTGRES_PASSWORD": "s3cret"}


@pytest.fixture(scope="module")
def compose():
    return load()


def test_the_server_uses_a_pinned_official_image_with_the_postgres_driver(compose):
    build = compose["services"]["mlflow"]["build"]["dockerfile_inline"]
    (base,) = re.findall(r"^FROM (\S+)", build, flags=re.M)
    assert re.fullmatch(r"ghcr\.io/mlflow/mlflow:v\d+\.\d+\.\d+", base), base
    assert re.search(r"psycopg2-binary==\d", build)
    assert re.search(r'"psycopg\[binary\]==\d', build)  # the driver of plain postgresql:// URIs
    assert re.fullmatch(r"postgres:\d+\.\d+\S*", compose["services"]["postgres"]["image"])


def test_postgres_is_the_backend_and_the_server_serves_artifacts_from_a_volume(compose):
    command = mlflow_command(compose, ENV)
    # The plain URI every MLflow and SQLAlchemy document shows (psycopg 3).
    assert "--backend-store-uri=postgresql://mlflow:s3cret@postgres:5432/mlflow" in command
    assert "--serve-artifacts" in command
    assert "--artifacts-destination=/mlflow/artifacts" in command
    assert "mlflow-artifacts:/mlflow/artifacts" in compose["services"]["mlflow"]["volumes"]
    assert compose["services"]["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_data_lives_in_named_volumes_that_survive_down_and_up(compose):
    assert set(compose["volumes"]) == {"postgres-data", "mlflow-artifacts"}
    assert "postgres-data:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_both_services_have_health_checks(compose):
    assert "pg_isready" in " ".join(compose["services"]["postgres"]["healthcheck"]["test"])
    server_check = " ".join(compose["services"]["mlflow"]["healthcheck"]["test"])
    assert "http://localhost:5000/health" in server_check


def test_no_password_is_written_in_the_compose_files():
    for path in (compose_file.COMPOSE_FILE, compose_file.AUTH_OVERRIDE_FILE):
        for line in path.read_text().splitlines():
            if "PASSWORD" in line and not line.lstrip().startswith("#"):
                assert "${POSTGRES_PASSWORD" in line, line
    # Compose refuses to start either service without a password in .env.
    for service in ("postgres", "mlflow"):
        with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
            interpolate(load()["services"][service]["environment"]["POSTGRES_PASSWORD"], {})
    assert interpolate("${POSTGRES_PASSWORD:?x}", ENV) == "s3cret"
    assert "password" not in AUTH_INI.read_text().lower().split("[mlflow]")[1].split("#")[0]


def test_the_server_is_published_on_this_machine_only_and_checks_host_headers(compose):
    (port,) = compose["services"]["mlflow"]["ports"]
    assert interpolate(port, ENV) == "127.0.0.1:5000:5000"
    assert "ports" not in compose["services"]["postgres"]
    hosts = next(a for a in mlflow_command(compose, ENV) if a.startswith("--allowed-hosts="))
    assert "*" not in hosts.split("=", 1)[1].split(","), "a bare * would allow every host"


def test_the_auth_override_is_the_same_command_plus_basic_auth(compose):
    override = load(compose_file.AUTH_OVERRIDE_FILE)
    assert mlflow_command(override, ENV) == [*mlflow_command(compose, ENV), "--app-name=basic-auth"]
    service = override["services"]["mlflow"]
    assert service["env_file"] == "auth.env"
    assert service["environment"]["MLFLOW_AUTH_CONFIG_PATH"] == "/mlflow/basic_auth.ini"
    config = configparser.ConfigParser()
    config.read(AUTH_INI)
    assert config["mlflow"]["database_uri"].startswith("sqlite:////mlflow/auth/")
    assert "mlflow-auth:/mlflow/auth" in service["volumes"]


def test_secrets_files_are_ignored_and_their_examples_are_complete():
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert "/.env" in ignored and "/auth.env" in ignored
    example = (PROJECT_ROOT / ".env.example").read_text()
    assert "POSTGRES_PASSWORD=" in example
    auth_example = (PROJECT_ROOT / "auth.env.example").read_text()
    assert "MLFLOW_AUTH_ADMIN_PASSWORD=" in auth_example
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY=" in auth_example

"""`python -m imdb_sweep.server`: the command it runs (the default store, on localhost) and the options
it passes to mlflow server."""

from __future__ import annotations

import pytest

from imdb_sweep import server
from imdb_sweep.tracking import store


def test_the_server_command_opens_the_default_store_on_localhost(tmp_path):
    arguments = server.parse_arguments(["--store", str(tmp_path)])
    assert (arguments.host, arguments.port) == ("127.0.0.1", 5000)
    command = server.server_command(arguments.store, arguments.host, arguments.port)
    assert command[1:4] == ["-m", "mlflow", "server"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    # The same URI a sweep writes to when no tracking URI is set.
    store_cfg = type("Cfg", (), {"uri": None, "store_dir": str(tmp_path)})
    uri, _ = store.resolve_tracking_uri(store_cfg)
    assert command[command.index("--backend-store-uri") + 1] == uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert command[command.index("--artifacts-destination") + 1] == str(tmp_path / "mlruns" / "artifacts")
    assert "--serve-artifacts" in command


def test_mlflow_options_pass_through_after_a_double_dash():
    arguments = server.parse_arguments(["--port", "5001", "--", "--app-name", "basic-auth"])
    assert arguments.port == 5001 and arguments.extra == ["--app-name", "basic-auth"]
    with pytest.raises(SystemExit):
        server.parse_arguments(["--app-name", "basic-auth"])
    with pytest.raises(SystemExit):
        server.parse_arguments(["--port", "70000"])


def test_mlflow_job_consumers_are_off_unless_the_user_turns_them_on():
    # Off by default: MLflow's eight GenAI job consumers would outlive a stopped server.
    assert server.server_environment({"PATH": "/bin"}) == {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PATH": "/bin"}
    # A value the user exported wins.
    chosen = server.server_environment({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"})
    assert chosen["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"

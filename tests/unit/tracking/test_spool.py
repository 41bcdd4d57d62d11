"""Which tracking errors a job spools, where its spool lives, and the sync command's
arguments (imdb_sweep/tracking/spool.py, imdb_sweep/sync.py)."""
from __future__ import annotations

import pytest
import requests
from mlflow.exceptions import MlflowException, RestException

from imdb_sweep import contract, sync
from imdb_sweep.tracking import spool as spooling

SERVER = "http://127.0.0.1:5999"
EPOCH_METRICS = (contract.LOSS, contract.ACCURACY, contract.VAL_LOSS, contract.VAL_ACCURACY, contract.EPOCH_SECONDS)


# ---------------------------------------------------------------------------
# Which errors are worth spooling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("error", "away"), [
    (MlflowException(f"API request to {SERVER}/api/2.0/mlflow/runs/log-batch failed with exception "
                     "HTTPConnectionPool(host='127.0.0.1', port=5999): Max retries exceeded"), True),
    (MlflowException(f"API request to {SERVER}/api/2.0/mlflow/runs/get failed with timeout exception "
                     "ReadTimeout."), True),
    (RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "database restarting"}), True),
    (RestException({"error_code": "INTERNAL_ERROR", "message": "could not connect to the database"}), True),
    (requests.exceptions.ConnectionError("refused"), True),
    (RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "param changed"}), False),
    (RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such run"}), False),
    (ValueError("a bug of ours"), False),
], ids=["refused", "timeout", "503", "500", "requests-refused", "400", "404", "not-mlflow"])
def test_only_an_unanswered_request_or_a_5xx_is_spooled(error, away):
    assert spooling.is_server_away(error, SERVER) is away
    # A local store never goes away: its errors are real ones.
    assert spooling.is_server_away(error, "sqlite:///mlflow.db") is False


def test_an_http_error_counts_by_its_status():
    def http_error(status: int) -> requests.exceptions.HTTPError:
        response = requests.Response()
        response.status_code = status
        return requests.exceptions.HTTPError(response=response)

    assert spooling.is_server_away(http_error(502), SERVER)
    assert not spooling.is_server_away(http_error(403), SERVER)


def test_the_spool_folder_defaults_to_the_local_store_and_follows_the_key(compose_config, tmp_path):
    cfg = compose_config(f"tracking.store_dir={tmp_path / 'store'}")
    assert spooling.spool_root(cfg.tracking) == tmp_path / "store" / "mlruns" / "spool"
    cfg = compose_config(f"tracking.spool_dir={tmp_path / 'elsewhere'}")
    assert spooling.spool_root(cfg.tracking) == tmp_path / "elsewhere"


def test_the_sync_command_takes_roots_folders_and_another_address(tmp_path):
    options = sync.parse_arguments([str(tmp_path), "--tracking-uri", SERVER, "--wait", "5"])
    assert options.spools == [tmp_path] and options.tracking_uri == SERVER and options.wait == 5
    assert sync.main([str(tmp_path / "nothing-here")]) == 0  # nothing kept: nothing to do

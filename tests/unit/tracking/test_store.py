"""The tracking store's HTTP client: bounded retries unless the user chose their own."""

from __future__ import annotations

import os

from imdb_sweep.tracking import store


def test_http_retries_are_bounded_unless_the_user_chose(monkeypatch):
    for name in store.HTTP_RETRY_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "9")
    store.bound_http_retries()
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == store.HTTP_RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"]

"""The registered winner behind `mlflow models serve`: accuracy on the test
reviews through the endpoint, and latency per request.

Starts `mlflow models serve -m MODEL_URI --env-manager local` on 127.0.0.1
(the virtual environment's bin/ on PATH: the server starts uvicorn through the
shell), then

1. posts every test review of the archive (raw text, `dataframe_split`, 500
   per request) and compares the served labels' accuracy with the run's logged
   `model_test_accuracy` (the served model's; `test_accuracy`, the last epoch's,
   for runs logged before it existed);
2. times requests of 1 and of 100 reviews (`dataframe_records`, drawn from the
   test reviews; one kept-alive HTTP connection, as a client library would use;
   a few warm-up requests first) and reports p50/p95/mean per request.

    python benchmarks/serving_latency.py --model-uri models:/imdb-sentiment@champion \\
        --archive /path/to/aclImdb_v1.tar.gz [--requests 200] [--json out.json]

Run it where the tracking store is (MLFLOW_TRACKING_URI, or the local
mlruns/mlflow.db of the folder the sweep ran in). Uses imdb_sweep as installed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from imdb_sweep.data.aclimdb import read_aclimdb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_uri: str, tracking_uri: str, port: int, log: Path) -> subprocess.Popen:
    bin_folder = str(Path(sys.executable).parent)
    return subprocess.Popen(
        [str(Path(bin_folder) / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
             "PATH": bin_folder + os.pathsep + os.environ.get("PATH", "")},
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_until_up(connection: http.client.HTTPConnection, server: subprocess.Popen, timeout: float = 300) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            connection.request("GET", "/ping")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return time.perf_counter() - started
        except OSError:
            connection.close()
            time.sleep(0.5)
    raise RuntimeError(f"no answer within {timeout} s")


def invoke(connection: http.client.HTTPConnection, body: dict) -> list[dict]:
    connection.request("POST", "/invocations", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload}")
    return payload["predictions"]


def served_accuracy(connection: http.client.HTTPConnection, reviews: list[tuple[int, str]],
                    batch: int = 500) -> tuple[float, float]:
    """(accuracy of the served labels, seconds for all requests)."""
    correct, started = 0, time.perf_counter()
    for start in range(0, len(reviews), batch):
        chunk = reviews[start:start + batch]
        predictions = invoke(connection, {"dataframe_split": {"columns": ["text"],
                                                               "data": [[text] for _, text in chunk]}})
        correct += sum(int(p["label"] == label) for p, (label, _) in zip(predictions, chunk))
    return correct / len(reviews), time.perf_counter() - started


def latencies(connection: http.client.HTTPConnection, texts: list[str], per_request: int, requests: int,
              warmup: int = 10) -> list[float]:
    rng = random.Random(per_request)
    times = []
    for index in range(warmup + requests):
        body = {"dataframe_records": [{"text": text} for text in rng.sample(texts, per_request)]}
        started = time.perf_counter()
        invoke(connection, body)
        if index >= warmup:
            times.append(time.perf_counter() - started)
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/imdb-sentiment@champion")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI")
                        or f"sqlite:///{Path('mlruns/mlflow.db').resolve()}")
    parser.add_argument("--archive", default=os.environ.get("IMDB_SWEEP_ACLIMDB"), required=False)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    arguments = parser.parse_args()
    if not arguments.archive:
        parser.error("--archive (or IMDB_SWEEP_ACLIMDB) is needed: the test reviews come from it")

    client = MlflowClient(arguments.tracking_uri)
    name, _, alias = arguments.model_uri.removeprefix("models:/").partition("@")
    version = client.get_model_version_by_alias(name, alias)
    run = client.get_run(version.run_id)
    test_reviews = read_aclimdb(Path(arguments.archive))["test"]

    port = free_port()
    log = Path(f"serving_latency_{port}.log").resolve()
    server = start_server(arguments.model_uri, arguments.tracking_uri, port, log)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        startup = wait_until_up(connection, server)
        accuracy, scoring_seconds = served_accuracy(connection, test_reviews)
        texts = [text for _, text in test_reviews]
        timings = {size: latencies(connection, texts, size, arguments.requests) for size in (1, 100)}
    finally:
        connection.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    figures = {
        "model": f"{arguments.model_uri} (version {version.version}, run {run.info.run_id})",
        "server_start_seconds": startup,
        "test_reviews": len(test_reviews),
        "served_accuracy": accuracy,
        # The served model's own test accuracy; runs logged before it have only the last epoch's.
        "logged_metric": "model_test_accuracy" if "model_test_accuracy" in run.data.metrics else "test_accuracy",
        "scoring_seconds_all_test_reviews": scoring_seconds,
        "latency_ms": {
            str(size): {"p50": 1000 * percentile(values, 0.5), "p95": 1000 * percentile(values, 0.95),
                        "mean": 1000 * statistics.fmean(values), "requests": len(values)}
            for size, values in timings.items()
        },
    }
    logged = figures["logged_accuracy"] = run.data.metrics[figures["logged_metric"]]
    print(f"Model {figures['model']}; server up in {startup:.1f} s")
    print(f"Test reviews: {len(test_reviews)}; served accuracy {accuracy:.6f}, logged {figures['logged_metric']} "
          f"{logged:.6f} (difference {accuracy - logged:+.6f}); "
          f"all scored in {scoring_seconds:.1f} s (500 per request)")
    print("| reviews per request | p50 ms | p95 ms | mean ms | requests |")
    print("|---|---|---|---|---|")
    for size, row in figures["latency_ms"].items():
        print(f"| {size} | {row['p50']:.1f} | {row['p95']:.1f} | {row['mean']:.1f} | {row['requests']} |")
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

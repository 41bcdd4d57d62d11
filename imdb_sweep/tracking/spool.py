"""The spool every write of a job's run goes through, so that training never waits on the tracking server.

While the server answers, a write goes straight to it. When a write fails because
the server does not answer (`is_server_away`: no connection, a timeout, a 5xx), that
write and every later one of the run are appended, in order, to the job's spool
folder, and training goes on. `send_pending` replays them in order once the server
answers again (its /health, probed at most every PROBE_INTERVAL_SECONDS, each probe
waiting at most PROBE_TIMEOUT_SECONDS): the job calls it after every epoch and at its
end, the sweep at its end (waiting up to `sweep.sync_wait_seconds`), and
`python -m imdb_sweep.sync` any time later, from any machine that reaches the server.

Replaying is idempotent, so a write retried after its answer was lost is harmless:
a metric point is sent only when the run lacks its (key, step); params, tags, text
artifacts and dataset inputs are the same when written twice; the run is created once
(found again by its SPOOL_ID tag) and the model logged once (found again as the
run's logged model of that name).

One job's spool folder, `<tracking.spool_dir>/<spool id>/` (default `<store>/mlruns/spool/`):

    spool.json     the tracking URI, experiment, sweep and (once it exists) run id
    records.jsonl  one write per line, appended, never rewritten
    sent           how many of those lines the server has (rewritten after each)
    sending.lock   held by the one process sending (a job, its sweep, the sync command)
    files/<n>/     the files of record n (the model's bundle)

A folder whose records were all sent is removed (by whichever sender sent the last
one, holding the lock); a later outage of the same job starts a new records file. A local store (SQLite, a folder)
does not go away: its writes are never spooled, and its errors are raised as before.
"""

from __future__ import annotations

import base64
import fcntl
import importlib
import json
import logging
import os
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from mlflow.entities import DatasetInput, Metric, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.service_pb2 import DatasetInput as DatasetInputProto
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.tracking.store import probe_server
from imdb_sweep.tracking.uris import is_server, store_files_folder

# urllib3 logs each of MLflow's retries of a refused request at WARNING; while the
# server is away the spool says so once, in its own words.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

SPOOL_FILE = "spool.json"
RECORDS_FILE = "records.jsonl"
SENT_FILE = "sent"
LOCK_FILE = "sending.lock"
FILES_FOLDER = "files"
# A spooled job asks the server's /health at most this often, each time waiting at
# most this long: the most an epoch ever waits on a server that is away.
PROBE_INTERVAL_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 2.0
# The MLflow errors that mean "no answer" rather than "a bad request": rest_utils
# words a refused connection, a timeout and retries exhausted on 5xx answers so.
_NO_ANSWER_PHRASES = ("failed with exception", "failed with timeout exception")


# Sends the files of a "files" record: f(client, run_id, folder, replay).
FileSender = Callable[[MlflowClient, str, Path, bool], None]


class SpoolFullError(RuntimeError):
    """The spool reached tracking.spool_max_megabytes while the server was away."""


def is_server_away(error: BaseException, uri: str) -> bool:
    """True when `error` says the tracking server at `uri` did not answer (refused, timed
    out, or answered 5xx): the write is worth spooling. A 4xx (a bad request, a
    missing run) and any error of a local store are real errors."""
    if not is_server(uri):
        return False
    if isinstance(error, requests.exceptions.HTTPError):
        return error.response is not None and error.response.status_code >= 500
    if isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
        return True
    if isinstance(error, MlflowException):
        message = str(error)
        if message.startswith("API request to") and any(phrase in message for phrase in _NO_ANSWER_PHRASES):
            return True
        return error.get_http_status_code() >= 500
    return False


def spool_root(tracking_cfg: Any) -> Path:
    """`tracking.spool_dir`, else `spool/` in the local store's files folder."""
    if tracking_cfg.get("spool_dir"):
        return Path(str(tracking_cfg.spool_dir)).expanduser().resolve()
    return store_files_folder(tracking_cfg.store_dir) / "spool"


@dataclass
class SpoolInfo:
    """spool.json: what a sender on any machine needs to send a folder's records."""

    tracking_uri: str
    experiment_id: str
    label: str = ""
    sweep_id: str | None = None
    run_id: str | None = None


class RunSpool:
    """One job run's writes: sent at once while the server answers, spooled in order when not.

    `run_id` is None until the run exists: a job that starts while the server is away
    spools its run's creation too, and learns its id when that is sent."""

    def __init__(self, folder: Path, info: SpoolInfo, max_megabytes: float,
                 say: Callable[[str], None] | None = None):
        self.folder = folder
        self.info = info
        self._max_megabytes = max_megabytes
        self._say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self._client = MlflowClient(info.tracking_uri)
        # Lines in records.jsonl, and how many were sent: a folder left by a job has some.
        self._records = len(self._read_records())
        self._sent = self._sent_file()
        self._last_probe = float("-inf")
        self._file_count = 0

    @staticmethod
    def new(root: Path, tracking_uri: str, experiment_id: str, label: str = "", sweep_id: str | None = None,
            max_megabytes: float = 1000, say: Callable[[str], None] | None = None) -> RunSpool:
        """A job's spool; its folder is made only when something must be kept in it."""
        folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        return RunSpool(folder, SpoolInfo(tracking_uri, experiment_id, label, sweep_id), max_megabytes, say)

    @staticmethod
    def reopen(folder: Path, tracking_uri: str | None = None) -> RunSpool:
        """A spool folder left by a job (this process's or another's), to send what it
        holds; to `tracking_uri` where this machine reaches the server by another name."""
        info = SpoolInfo(**json.loads((folder / SPOOL_FILE).read_text()))
        info.tracking_uri = tracking_uri or info.tracking_uri
        return RunSpool(folder, info, max_megabytes=float("inf"))  # the job that wrote it kept to its bound

    def _sent_file(self) -> int:
        path = self.folder / SENT_FILE
        return int(path.read_text() or 0) if path.exists() else 0

    @property
    def run_id(self) -> str | None:
        return self.info.run_id

    @property
    def pending(self) -> int:
        """Writes kept in the folder that the server does not have yet."""
        if self._records and not (self.folder / RECORDS_FILE).exists():
            # Everything was sent and the folder removed, by this sender or another (the
            # sweep's end, the sync command). A later outage starts a new records file,
            # counted from 0: counts carried over would skip its first lines.
            self._records = self._sent = 0
        return self._records - self._sent

    # -- the writes a job makes, in the order it makes them ---------------------------

    def create_run(self, run_name: str, tags: Mapping[str, str]) -> None:
        self._write({"op": "create_run", "run_name": run_name, "start_time": _now_ms(),
                     "tags": {**tags, contract.SPOOL_ID: self.folder.name}})

    def reopen_run(self, run_id: str) -> None:
        """An existing run (a resumed job's) continued: RUNNING again."""
        self.info.run_id = run_id
        self._write({"op": "status", "status": "RUNNING", "end_time": None})

    def log_params(self, params: Mapping[str, str]) -> None:
        self._write({"op": "params", "params": dict(params)})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._write({"op": "tags", "tags": dict(tags)})

    def delete_tag(self, key: str) -> None:
        self._write({"op": "delete_tag", "key": key})

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Metrics at `step`, with this moment as their timestamp (kept for a replay)."""
        timestamp = _now_ms()
        self._write({"op": "metrics",
                     "metrics": [[name, float(value), timestamp, step] for name, value in metrics.items()]})

    def log_text(self, text: str, artifact_file: str) -> None:
        self._write({"op": "text", "text": text, "path": artifact_file})

    def log_inputs(self, inputs: list[DatasetInput]) -> None:
        # Each input as its protocol buffer, the form MLflow itself sends it in.
        self._write({"op": "inputs", "inputs": [base64.b64encode(item.to_proto().SerializeToString()).decode()
                                                for item in inputs]})

    def log_files(self, send: FileSender, write: Callable[[Path], None]) -> None:
        """Files that `write(folder)` puts in a fresh folder (the model's bundle), logged
        by `send(client, run_id, folder, replay)`, a function of this package that any
        process finds by its name; kept until sent."""
        self._file_count += 1
        files = self.folder / FILES_FOLDER / f"{self._file_count}-{uuid.uuid4().hex[:6]}"
        files.mkdir(parents=True)
        self._save_info()
        write(files)
        self._write({"op": "files", "sender": f"{send.__module__}:{send.__qualname__}",
                     "folder": str(files.relative_to(self.folder))})

    def end(self, status: int) -> None:  # a RunStatus value
        self._write({"op": "status", "status": RunStatus.to_string(status), "end_time": _now_ms()})

    # -- sending ------------------------------------------------------------------------

    def send_pending(self, wait_for_probe: bool = False) -> int:
        """Send the kept writes in order if the server answers; return how many are left.
        Probes the server at most every PROBE_INTERVAL_SECONDS unless `wait_for_probe`."""
        if self.pending == 0:
            return 0
        now = time.monotonic()
        if not wait_for_probe and now - self._last_probe < PROBE_INTERVAL_SECONDS:
            return self.pending
        self._last_probe = now
        if probe_server(self.info.tracking_uri, timeout=PROBE_TIMEOUT_SECONDS) is not None:
            return self.pending
        try:
            lock = open(self.folder / LOCK_FILE, "a")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:  # another sender sent it all and removed the folder
            return self.pending
        with lock:
            try:  # one sender at a time (a job, its sweep, the sync command)
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return self.pending
            if self.pending == 0:  # the sender that held the lock sent it all and removed the folder
                return 0
            # Another sender may have gone on meanwhile, and created the run.
            self._sent = max(self._sent, self._sent_file())
            self.info.run_id = self.info.run_id or json.loads((self.folder / SPOOL_FILE).read_text())["run_id"]
            self._send_records()
            if self.pending == 0:  # removed while holding the lock: no other sender is mid-way
                self.remove_if_sent()
        return self.pending

    def _send_records(self) -> None:
        records = self._read_records()
        if self._sent > len(records):
            # Never skip a line: a count ahead of the file means the file is not the one counted.
            raise RuntimeError(f"spool {self.folder}: {self._sent} write(s) counted as sent but only "
                               f"{len(records)} in {RECORDS_FILE}")
        self._records = len(records)  # the job may have appended since this sender counted
        while self._sent < len(records):
            try:
                self._apply(records[self._sent], replay=True)
            except Exception as error:
                if is_server_away(error, self.info.tracking_uri):
                    return
                raise
            self._sent += 1
            (self.folder / SENT_FILE).write_text(str(self._sent))
        self._say(f"Sent {len(records)} kept write(s) of {self.info.label or 'a job'} to "
                  f"{self.info.tracking_uri} (run {self.run_id})")

    def remove_if_sent(self) -> None:
        """The folder goes once the server has everything it held."""
        if self.pending == 0 and self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)

    def beat(self) -> None:
        """The heartbeat tag, straight to the server (never spooled: it only proves life)."""
        if self.run_id is not None:
            self._client.set_tag(self.run_id, contract.HEARTBEAT, f"{time.time():.0f}")

    # -- inside -------------------------------------------------------------------------

    def _write(self, record: dict[str, Any]) -> None:
        if self.pending == 0 and (self.run_id is not None or record["op"] == "create_run"):
            try:
                self._apply(record, replay=False)
                self._remove_files(record)
                return
            except Exception as error:
                if not is_server_away(error, self.info.tracking_uri):
                    raise
                self._say(f"The tracking server {self.info.tracking_uri} does not answer "
                          f"({_first_line(error)}): training goes on; what {self.info.label or 'the job'} "
                          f"logs is kept in {self.folder} and sent when it answers")
        self._append(record)
        self.send_pending()

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        if _folder_bytes(self.folder) + len(line) > self._max_megabytes * 1024 * 1024:
            raise SpoolFullError(
                f"the spool {self.folder} reached tracking.spool_max_megabytes = "
                f"{self._max_megabytes:g} while the tracking server {self.info.tracking_uri} "
                "was away: the job stops here; what it kept is sent by python -m imdb_sweep.sync")
        self._save_info()
        with open(self.folder / RECORDS_FILE, "a") as records:
            records.write(line)
        self._records += 1

    def _save_info(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"{SPOOL_FILE}.tmp"
        temporary.write_text(json.dumps(self.info.__dict__, indent=2))
        os.replace(temporary, self.folder / SPOOL_FILE)

    def _read_records(self) -> list[dict[str, Any]]:
        path = self.folder / RECORDS_FILE
        if not path.exists():
            return []
        # A line cut short by a crash mid-write is the last one: it was never acknowledged.
        return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]

    def _remove_files(self, record: Mapping[str, Any]) -> None:
        if record["op"] == "files":
            shutil.rmtree(self.folder / record["folder"], ignore_errors=True)

    def _apply(self, record: Mapping[str, Any], replay: bool) -> None:
        """One write, to the server. `replay`: it may have reached the server already."""
        op = record["op"]
        if op == "create_run":
            self._create_run(record, replay)
            return
        run_id = self.run_id
        if run_id is None:
            raise RuntimeError(f"spool {self.folder}: a '{op}' record before its run was created")
        client = self._client
        if op == "params":
            client.log_batch(run_id, params=[_param(key, value) for key, value in record["params"].items()],
                             synchronous=True)
        elif op == "tags":
            client.log_batch(run_id, tags=[_tag(key, value) for key, value in record["tags"].items()],
                             synchronous=True)
        elif op == "delete_tag":
            if record["key"] in client.get_run(run_id).data.tags:
                client.delete_tag(run_id, record["key"])
        elif op == "metrics":
            points = [Metric(name, value, timestamp, step) for name, value, timestamp, step in record["metrics"]]
            if replay:
                points = _points_the_run_lacks(client, run_id, points)
            if points:
                client.log_batch(run_id, metrics=points, synchronous=True)
        elif op == "text":
            client.log_text(run_id, record["text"], record["path"])
        elif op == "inputs":
            log_inputs(client, run_id, [DatasetInput.from_proto(DatasetInputProto.FromString(base64.b64decode(item)))
                                        for item in record["inputs"]])
        elif op == "files":
            _file_sender(record["sender"])(client, run_id, self.folder / record["folder"], replay)
            if replay:
                self._remove_files(record)
        elif op == "status":
            if record["status"] != "RUNNING" and replay:
                clear_reaped_mark(client, run_id)
            if record["status"] == "RUNNING":
                client.update_run(run_id, status="RUNNING")
            else:
                client.set_terminated(run_id, record["status"], end_time=record["end_time"])
        else:
            raise ValueError(f"spool {self.folder}: unknown record '{op}'")

    def _create_run(self, record: Mapping[str, Any], replay: bool) -> None:
        tags = dict(record["tags"])
        if replay:
            # The first try may have created it and lost the answer: its tag finds it.
            found = self._client.search_runs(
                [self.info.experiment_id], filter_string=f"tags.`{contract.SPOOL_ID}` = '{tags[contract.SPOOL_ID]}'",
                max_results=1)
            if found:
                self._set_run_id(found[0].info.run_id)
                return
        run = self._client.create_run(self.info.experiment_id, start_time=record["start_time"], tags=tags,
                                      run_name=record["run_name"])
        self._set_run_id(run.info.run_id)

    def _set_run_id(self, run_id: str) -> None:
        self.info.run_id = run_id
        if self.folder.exists():
            self._save_info()


def _file_sender(name: str) -> FileSender:
    """The function a "files" record names (`imdb_sweep.tracking.records:send_text_model`)."""
    module, _, function = name.partition(":")
    if not module.startswith("imdb_sweep."):
        raise ValueError(f"a spool record names the sender '{name}': expected a function of imdb_sweep")
    return getattr(importlib.import_module(module), function)


def log_inputs(client: MlflowClient, run_id: str, inputs: list[DatasetInput], attempts: int = 4) -> None:
    """Record dataset inputs of the run.

    MLflow's stores look the dataset up and insert it when missing, in two
    steps: two jobs of a parallel sweep logging the same data at the same moment
    can both insert, and one fails on the unique key. The row exists by then, so
    trying again links it.
    """
    for attempt in range(1, attempts + 1):
        try:
            client.log_inputs(run_id, inputs)
            return
        except MlflowException as error:
            if attempt == attempts or not _is_duplicate_key(error):
                raise
            time.sleep(0.1 * attempt)


def _is_duplicate_key(error: Exception) -> bool:
    text = str(error)
    return "UNIQUE constraint failed" in text or "duplicate key value" in text


def _points_the_run_lacks(client: MlflowClient, run_id: str, points: list[Metric]) -> list[Metric]:
    """The points whose (key, step) the run does not have yet."""
    logged: dict[str, set[int]] = {}
    for name in {point.key for point in points}:
        logged[name] = {point.step for point in client.get_metric_history(run_id, name)}
    return [point for point in points if point.step not in logged[point.key]]


def clear_reaped_mark(client: MlflowClient, run_id: str) -> None:
    """A run whose job ended while the server was away may have been marked KILLED
    since (its process gone, liveness.py): its real end replaces that mark."""
    error = client.get_run(run_id).data.tags.get(contract.ERROR, "")
    if error.startswith("marked KILLED"):
        client.delete_tag(run_id, contract.ERROR)


def _param(key: str, value: str) -> Any:
    from mlflow.entities import Param

    return Param(key, value)


def _tag(key: str, value: str) -> Any:
    from mlflow.entities import RunTag

    return RunTag(key, value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def _folder_bytes(folder: Path) -> int:
    if not folder.exists():
        return 0
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def pending_spools(root: Path, sweep_id: str | None = None) -> Iterator[Path]:
    """The spool folders under `root` that still hold writes (of one sweep, if given)."""
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not (folder / SPOOL_FILE).is_file():
            continue
        if sweep_id is not None and json.loads((folder / SPOOL_FILE).read_text()).get("sweep_id") != sweep_id:
            continue
        if RunSpool.reopen(folder).pending:
            yield folder


def send_spools(folders: list[Path], wait_seconds: float, say: Callable[[str], None],
                tracking_uri: str | None = None) -> list[Path]:
    """Send what each spool folder holds, trying again every PROBE_INTERVAL_SECONDS for
    up to `wait_seconds` while the server is away; return the folders still pending."""
    spools = [RunSpool.reopen(folder, tracking_uri) for folder in folders]
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        spools = [spool for spool in spools if spool.send_pending(wait_for_probe=True)]
        if not spools or time.monotonic() >= deadline:
            return [spool.folder for spool in spools]
        if not announced:
            say(f"Waiting up to {wait_seconds:g} s for the tracking server {spools[0].info.tracking_uri} "
                f"to take {sum(spool.pending for spool in spools)} kept write(s) of {len(spools)} run(s)")
            announced = True
        time.sleep(min(PROBE_INTERVAL_SECONDS, max(deadline - time.monotonic(), 0)))


def sync_command(root: Path) -> str:
    """The command that sends, later and from any machine that reaches the server, every
    spool folder under `root` (each names its own server); running it twice is harmless."""
    return f"python -m imdb_sweep.sync {shlex.quote(str(root))}"

"""A sweep's end when its tracking server went away: wait a bounded time for the
jobs' spools (tracking/spool.py) to be sent, then end the parent run; or, with the
server still away, keep the parent's end beside the spools, for `python -m
imdb_sweep.sync` to do once it has sent them.

A kept end is `<spool root>/sweeps/<sweep id>.json`: the sweep's state, its
`tracking.register` name and, for a search, the parent's end as its study decided it
(the trial counts: the study lives in its own storage, not on the tracking server).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.console import print_flushed
from imdb_sweep.sweep.parent import end_parent_run
from imdb_sweep.sweep.publishing import publish_results
from imdb_sweep.tracking.spool import clear_reaped_mark, is_server_away, pending_spools, send_spools, sync_command
from imdb_sweep.tracking.sweep_state import SweepState

SWEEP_ENDS_FOLDER = "sweeps"


def end_sweep(client: MlflowClient, root: Path, state: SweepState, register: str | None,
              wait_seconds: float, promote: str = "when_better") -> bool:
    """Send the sweep's spooled writes (waiting up to `wait_seconds` for the server),
    then end its parent run and publish its table. False when the server is still
    away: the end is kept and what is pending is said, with the command that sends it."""
    left = send_spools(list(pending_spools(root, state.sweep_id)), wait_seconds, print_flushed)
    if not left:
        try:
            end_parent_run(client, state, state.total_jobs)
        except Exception as error:
            if not is_server_away(error, state.tracking_uri):
                raise
        else:
            publish_results(state, register, promote)
            return True
    keep_sweep_end(root, state, register, promote)
    say_pending(root, state, left)
    return False


def keep_sweep_end(root: Path, state: SweepState, register: str | None, promote: str = "when_better",
                   search_end: dict[str, Any] | None = None) -> Path:
    """The parent's end kept for the sync command. `search_end`: a search's, decided
    from its study when it ended (end_search_parent's `end`)."""
    path = root / SWEEP_ENDS_FOLDER / f"{state.sweep_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"state": asdict(state), "register": register, "promote": promote,
                                "search_end": search_end}, indent=2))
    return path


def end_search_parent(client: MlflowClient, state: SweepState, end: Mapping[str, Any]) -> None:
    """End a search's parent run as its study decided when the search ended: `end` holds
    the trial counts to log ("metrics"), whether the space was exhausted, the status (a
    RunStatus value) and the trials said in the summary. The same whether the search
    ends it or the sync command does later, from the kept end."""
    for name, value in end["metrics"].items():
        client.log_metric(state.parent_run_id, name, value)
    if end["exhausted"]:
        client.set_tag(state.parent_run_id, contract.SEARCH_EXHAUSTED, "true")
    end_parent_run(client, state, expected=None, status=end["status"], trials=end["trials"])


def say_pending(root: Path, state: SweepState, folders: list[Path]) -> None:
    runs = f"{len(folders)} job run(s) kept in {', '.join(map(str, folders))}" if folders else "no job run pending"
    print(f"The tracking server {state.tracking_uri} still does not answer: sweep {state.sweep_id} has {runs}; "
          f"its parent run {state.parent_run_id} is not ended yet.\n"
          f"Send them (from any machine that reaches the server; running it twice is harmless):\n"
          f"  {sync_command(root)}", file=sys.stderr, flush=True)


def end_kept_sweeps(root: Path, tracking_uri: str | None = None) -> list[str]:
    """End every kept sweep end under `root` whose job spools are all sent (clearing a
    KILLED mark that a reaper set meanwhile); return the ids of the sweeps still pending."""
    pending = []
    folder = root / SWEEP_ENDS_FOLDER
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        kept = json.loads(path.read_text())
        state = SweepState(**{**kept["state"], **({"tracking_uri": tracking_uri} if tracking_uri else {})})
        if any(True for _ in pending_spools(root, state.sweep_id)):
            pending.append(state.sweep_id)
            continue
        client = MlflowClient(state.tracking_uri)
        try:
            clear_reaped_mark(client, state.parent_run_id)
            if kept.get("search_end"):
                end_search_parent(client, state, kept["search_end"])
            else:
                end_parent_run(client, state, state.total_jobs)
        except Exception as error:
            if not is_server_away(error, state.tracking_uri):
                raise
            pending.append(state.sweep_id)
            continue
        publish_results(state, kept["register"], kept.get("promote", "when_better"))
        path.unlink()
    return pending

"""`python -m imdb_sweep.sync [SPOOL ...] [--store DIR] [--tracking-uri URI] [--wait SECONDS]`:
send what jobs kept in their spools while the tracking server was away
(imdb_sweep/tracking/spool.py), then end the sweeps whose ends were kept
(imdb_sweep/sweep/pending.py).

A SPOOL is a spool root (`tracking.spool_dir`, by default `mlruns/spool` of the
store folder `--store`, `.` unless given) or one job's spool folder. Each folder
names the server it was meant for; `--tracking-uri` sends to another address of
it (another machine may reach it by another name). Sending is idempotent: running
this twice, or beside a sweep that sends the same folders, never duplicates a
metric step or a run. Exit 0 when everything was sent, 1 when the server still
does not answer (what is left is listed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imdb_sweep.console import print_flushed
from imdb_sweep.sweep.pending import end_kept_sweeps
from imdb_sweep.tracking.spool import SPOOL_FILE, pending_spools, send_spools
from imdb_sweep.tracking.store import bound_http_retries
from imdb_sweep.tracking.uris import store_files_folder


def parse_arguments(arguments: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m imdb_sweep.sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("spools", nargs="*", type=Path,
                        help="spool roots or job spool folders (default: mlruns/spool of --store)")
    parser.add_argument("--store", type=Path, default=Path("."),
                        help="the local store folder whose mlruns/spool to send (default: .)")
    parser.add_argument("--tracking-uri", default=None,
                        help="send to this address of the server instead of the one each spool names")
    parser.add_argument("--wait", type=float, default=0,
                        help="seconds to keep trying while the server does not answer (default: 0)")
    return parser.parse_args(arguments)


def spool_folders(spools: list[Path]) -> tuple[list[Path], list[Path]]:
    """(the job spool folders holding writes, the roots whose kept sweep ends to check)."""
    folders: list[Path] = []
    roots: list[Path] = []
    for path in spools:
        if (path / SPOOL_FILE).is_file():
            folders.append(path)
            roots.append(path.parent)
        else:
            folders += list(pending_spools(path))
            roots.append(path)
    return [folder for folder in folders if folder.exists()], sorted(set(roots))


def main(arguments: list[str] | None = None) -> int:
    options = parse_arguments(sys.argv[1:] if arguments is None else arguments)
    bound_http_retries()
    spools = [path.expanduser().resolve() for path in options.spools] or [store_files_folder(options.store) / "spool"]
    folders, roots = spool_folders(spools)
    left = send_spools(folders, options.wait, print_flushed, options.tracking_uri) if folders else []
    sweeps_left = [sweep_id for root in roots for sweep_id in end_kept_sweeps(root, options.tracking_uri)]
    if left or sweeps_left:
        print(f"Not sent yet (the tracking server does not answer): {len(left)} job spool(s) "
              f"{', '.join(map(str, left))}; sweep(s) not ended: {', '.join(sweeps_left) or 'none'}",
              file=sys.stderr, flush=True)
        return 1
    print_flushed(f"Everything sent: {len(folders)} job spool(s), every kept sweep end done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

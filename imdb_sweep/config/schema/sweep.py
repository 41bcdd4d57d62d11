"""`sweep`: how a sweep treats jobs that ran before, failed, or were interrupted (conf/sweep/)."""

from __future__ import annotations

from dataclasses import dataclass

from imdb_sweep.config import choices
from imdb_sweep.config.schema.fields import boolean, integer, number, one_of, text


@dataclass
class SweepConfig:
    rerun: str = one_of("missing", choices.RERUN,
                        help="`missing` skips configurations already FINISHED (and resumes interrupted ones); "
                             "`all` retrains")
    checkpoints: bool = boolean(True, help="a checkpoint after every epoch, from which an interrupted job resumes")
    checkpoint_dir: str | None = text(None, optional=True, allowed="a folder",
                                      help="where checkpoints go (null: `mlruns/checkpoints` of the local store)")
    connect_attempts: int = integer(3, minimum=1, help="tries to reach the tracking server before giving up")
    heartbeat_seconds: float = number(30, above=0, help="how often a running job says it is alive")
    dead_after_seconds: float = number(600, above=0,
                                       help="a RUNNING run of another host silent this long is marked KILLED "
                                            "(this host's: by pid); more than `heartbeat_seconds`")
    sync_wait_seconds: float = number(120, minimum=0,
                                      help="at a sweep's end, how long to wait for a tracking server that went away "
                                           "to take what the jobs kept in their spools, before saying what is left")

"""SIGINT and SIGTERM become KeyboardInterrupt, so runs end KILLED, not RUNNING.

Python turns SIGINT into KeyboardInterrupt already; SIGTERM (what `kill`,
schedulers and container runtimes send) would end the process without running
any cleanup, leaving the job's and the sweep's runs RUNNING.
"""

from __future__ import annotations

import signal
from types import FrameType

_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop (SIGINT or SIGTERM)."""


def _handle(signal_number: int, frame: FrameType | None) -> None:
    _received.append(signal_number)
    raise Interrupted(f"received {signal.Signals(signal_number).name}")


def install_handlers() -> None:
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, _handle)


def was_interrupted() -> bool:
    return bool(_received)

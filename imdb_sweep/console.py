"""What a job prints: its announcements, and Keras's lines labelled with the job.

Jobs that run side by side (hydra/launcher=parallel) share one console; a
label on every line says whose epoch a line reports.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def print_flushed(message: str, stream: TextIO | None = None) -> None:
    """Print `message` as a line on stdout (or `stream`) at once: a job's lines keep their
    order with those of Keras, Hydra and other processes on the same console."""
    print(message, file=stream or sys.stdout, flush=True)


class _LabelledLines:
    """A text stream that writes `label` at the start of every line to `target`."""

    def __init__(self, target: TextIO, label: str):
        self._target = target
        self._label = label
        self._at_line_start = True

    def write(self, text: str) -> int:
        pieces = []
        for character in text:
            if self._at_line_start and character not in "\n\r":
                pieces.append(self._label)
                self._at_line_start = False
            pieces.append(character)
            if character in "\n\r":
                self._at_line_start = True
        self._target.write("".join(pieces))
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str):  # isatty, fileno, encoding, ...: the target's
        return getattr(self._target, name)


@contextmanager
def labelled_output(label: str | None) -> Iterator[None]:
    """Within the block, every line written to sys.stdout starts with `label `
    (nothing changes when label is None)."""
    if label is None:
        yield
        return
    original = sys.stdout
    sys.stdout = _LabelledLines(original, label + " ")
    try:
        yield
    finally:
        sys.stdout = original

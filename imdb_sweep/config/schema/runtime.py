"""`runtime`: how fast and how visibly a job runs (conf/runtime/).

Speed switches and process settings: training/ reads them, figures in
benchmarks/README.md. Most leave the trained numbers as they are; the few that
do not (the fused loop's own shuffle, XLA, float16) are named in
config/identity.py, so that they still tell one trained configuration from another.
"""

from __future__ import annotations

from dataclasses import dataclass

from imdb_sweep.config import choices
from imdb_sweep.config.schema.fields import boolean, integer, one_of


@dataclass
class RuntimeConfig:
    steps_per_execution: int = integer(32, minimum=1, help="batches per compiled call")
    fuse_steps: bool = boolean(True, help="those batches in one XLA loop (training/fused/), with its own shuffle: "
                                          "other numbers than Keras's loop")
    evaluation_batch_size: int = integer(1000, minimum=1,
                                         help="validation and test batch size (1000 divides both splits: one "
                                              "compiled program)")
    jit_compile: str | bool = one_of("auto", choices.JIT_COMPILE,
                                     help="XLA; `auto`: on for CPUs (off only for `train.dropout_masks=keras`)")
    mixed_precision: bool = boolean(False, help="float16 compute on GPUs (no gain on CPUs)")
    keep_freed_memory: bool = boolean(True, help="glibc keeps freed memory for the next step; one-way per process")
    threads: int | None = integer("${oc.decode:${oc.env:IMDB_SWEEP_THREADS,null}}", minimum=1, optional=True,
                                  help="TensorFlow threads per job (null: all cores; `hydra/launcher=parallel` "
                                       "sets `$IMDB_SWEEP_THREADS`)")
    deterministic: bool = boolean(False, help="identical numbers for a seed on a CPU, slower; one-way per process")
    verbose: int = one_of(2, choices.VERBOSITY, help="Keras output: 2 one line per epoch, 1 progress bar, 0 silent")

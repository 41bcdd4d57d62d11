"""Sweeps: what makes many jobs one sweep in MLflow.

    callback.py     the Hydra callback that owns the sweep's parent run
    expansion.py    a grid's jobs, expanded and checked before the first one trains
    ray_preset.py   hydra/launcher=ray with our settings
"""

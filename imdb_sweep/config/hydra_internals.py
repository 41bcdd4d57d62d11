"""Every private Hydra name the package uses, fenced here.

Written against Hydra 1.3.8 (the project requires hydra-core>=1.3.2) and
hydra-ray-launcher 1.2.2. Hydra's public API is `hydra.main`, compose/initialize,
`hydra.utils`, `hydra.types`, the plugin base classes (`hydra.plugins.*`,
`hydra.experimental.callback`) and the `hydra.core` modules that its plugins are
written against (config_store, hydra_config, plugins, override_parser, utils).
Everything else (`hydra._internal`, `GlobalHydra`, a plugin's own `_config` module)
may move in any release: a Hydra upgrade then fails `check_hydra_internals()`
(tests/unit/test_private_apis.py), naming the name, instead of a sweep.
tests/unit/test_private_apis.py also fails when a private Hydra name is used outside
this module.
"""

from __future__ import annotations

from typing import Any

from imdb_sweep.process.private_name_checks import run_private_name_checks

# The `_target_` of Hydra's default sweeper (hydra/sweeper=basic) as the composed
# config holds it. When it moves: compose `hydra/sweeper=basic` and copy the new value.
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


# Hydra's default launcher (hydra/launcher=basic), which runs each job in the calling
# process. When it moves: compose `hydra/launcher=basic` and copy its `_target_`.
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def runs_jobs_in_this_process(launcher: Any) -> bool:
    """Whether `launcher` is Hydra's basic launcher: its jobs run in this process, one
    after the other, sharing Hydra's process-wide state (HydraConfig, the cwd)."""
    cls = type(launcher)
    return f"{cls.__module__}.{cls.__name__}" == BASIC_LAUNCHER


def basic_sweeper_jobs(parsed_overrides: list[Any]) -> list[list[str]]:
    """Each job's overrides, as Hydra's basic sweeper launches them, from the parsed
    overrides of the sweep (`OverridesParser.parse_overrides`).

    `BasicSweeper.split_arguments` (a static method, as of Hydra 1.3.8) is the one place
    the grid's expansion is written. When it moves: find where BasicSweeper.sweep
    splits its arguments into batches and call that, with max_batch_size None.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return [list(job) for batch in BasicSweeper.split_arguments(parsed_overrides, None) for job in batch]


def running_config_loader() -> Any:
    """The config loader of the Hydra run in progress, which composes a job's config
    from its overrides (`load_sweep_config`) as the launcher will.

    A sweeper is given it (`hydra_context.config_loader`); a callback is not, so it
    is read from Hydra's process-wide `GlobalHydra` (as of Hydra 1.3.8). When it moves:
    take the loader from wherever `hydra.main` keeps its Hydra instance.
    """
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader()


def hydra_is_running() -> bool:
    """Whether Hydra is initialized in this process (inside a sweep's own process, where
    `compose` must reuse it), read from Hydra's process-wide `GlobalHydra` (as of Hydra
    1.3.8). When it moves: ask the Hydra instance `hydra.main` keeps, as above."""
    from hydra.core.global_hydra import GlobalHydra

    return bool(GlobalHydra.instance().is_initialized())


def locate(path: str) -> Any:
    """What a dotted path names: Hydra's own lookup for `_target_` (`_locate`, as of
    Hydra 1.3.8), which imports the module part of the path. `hydra.utils.get_class` and
    `get_method` call it too but also log every failure as an error of their own.
    When it moves: use `hydra.utils.get_object` (public in Hydra 1.3.8) and quiet the
    `hydra.utils` logger around the call.
    """
    from hydra._internal.utils import _locate

    return _locate(path)


def ray_launcher_config() -> type | None:
    """The Ray launcher plugin's structured config class (`RayLauncherConf`), or None
    when the plugin is not installed. Importing its `_config` module registers the
    plugin's own `hydra/launcher=ray` config (hydra-ray-launcher 1.2.2). When it moves:
    look for the class the plugin stores under group hydra/launcher, name ray.
    """
    try:
        from hydra_plugins.hydra_ray_launcher._config import RayLauncherConf
    except ImportError:
        return None
    return RayLauncherConf


def check_hydra_internals() -> None:
    """Raise RuntimeError naming the private name when this Hydra lacks one we use."""
    import importlib.util

    import hydra

    checks = {
        "BasicSweeper.split_arguments": lambda: basic_sweeper_jobs([]) == [[]],
        "hydra._internal.utils._locate": lambda: locate("os.path.join") is __import__("os").path.join,
        "GlobalHydra.instance().config_loader": _global_hydra_has_a_config_loader,
        f"BASIC_SWEEPER ({BASIC_SWEEPER})": lambda: locate(BASIC_SWEEPER).__name__ == "BasicSweeper",
        f"BASIC_LAUNCHER ({BASIC_LAUNCHER})": lambda: locate(BASIC_LAUNCHER).__name__ == "BasicLauncher",
    }
    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None:
        checks["hydra_plugins.hydra_ray_launcher._config.RayLauncherConf"] = lambda: ray_launcher_config() is not None
    run_private_name_checks(f"Hydra {hydra.__version__}", "imdb_sweep/config/hydra_internals.py", checks)


def _global_hydra_has_a_config_loader() -> bool:
    from hydra.core.global_hydra import GlobalHydra

    return callable(getattr(GlobalHydra.instance(), "config_loader", None))

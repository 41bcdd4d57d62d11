"""imdb_sweep's Optuna search sweeper as a Hydra plugin (hydra/sweeper=imdb_optuna).

Hydra builds a sweeper only from a class under the `hydra_plugins` namespace
package; there must be no hydra_plugins/__init__.py (it would hide the joblib
and Ray launchers' plugins). Hydra's scan of that namespace finds the class in
a wheel and in an editable install (pyproject.toml lists `hydra_plugins` for
that); imdb_sweep's entry point also registers it explicitly.
"""

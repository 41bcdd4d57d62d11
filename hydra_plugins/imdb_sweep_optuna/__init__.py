"""imdb_sweep's Optuna search sweeper as a Hydra plugin (hydra/sweeper=optuna).

Hydra builds a sweeper only from a class under the `hydra_plugins` namespace
package; there must be no hydra_plugins/__init__.py (it would hide the joblib
and Ray launchers' plugins). imdb_sweep's entry point registers the class
explicitly, so it is found however the package is installed.
"""

"""imdb_sweep's grid with adaptive seeds as a Hydra plugin (hydra/sweeper=adaptive_seeds).

Registered as imdb_sweep_optuna is: Hydra's scan of the hydra_plugins namespace finds
it, and imdb_sweep's entry point registers it explicitly.
"""

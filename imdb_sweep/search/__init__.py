"""Searches: Optuna proposes each job's configuration and stops hopeless ones early.

The sweeper's side, in the order a worker goes through it:

    sweeper.py      the sweeper Hydra runs (its plugin class: hydra_plugins/imdb_sweep_optuna): everything checked
    study.py        the study and its one MLflow parent run, created or joined
    worker.py       ask trials, launch them as jobs, tell the study how each ended
    leaving.py      the last worker ends the parent run and publishes; others hand it over

What both sides use, and the job's side:

    space.py        the search space, from Hydra's override grammar (choice, range, interval, tag(log, ...))
    settings.py     hydra.sweeper.* checked; the sampler and pruner built from it
    objective.py    what a search may optimize (validation metrics only) and its value after each epoch
    storage.py      where the study lives (a journal file by default, or a database)
    trials.py       the budget over all workers, worker identity, trials of dead workers
    trial_link.py   a job's side: its trial, reported every epoch (reporter.py, the Keras callback)
"""

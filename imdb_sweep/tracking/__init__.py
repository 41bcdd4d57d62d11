"""Everything MLflow a job writes (the names it writes: imdb_sweep/contract.py).

    uris.py          the local store's layout, URI parsing, UI addresses (no MLflow import)
    store.py         which store, is it reachable, which experiment
    runs.py          a job's run: its tags and lifecycle; earlier runs of a configuration
    records.py       params, dataset input, artifacts, the model
    spool.py         every write of a job's run: sent at once, or kept in order while the server is away
    epoch_logger.py  the Keras callback that logs each epoch (imports Keras)
    liveness.py      heartbeats, and runs of dead processes marked KILLED
    sweep_state.py   how a sweep's jobs find its parent run, in any process or machine
"""

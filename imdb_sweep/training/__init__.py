"""Building and fitting the Keras model: the part of a job that knows nothing of MLflow.

    model.py        build and compile the model of cfg.model (dense here, the other
                    families from imdb_sweep/models/) with cfg.train
    fit.py          train(cfg, data): fit, evaluate, resume from a checkpoint
    callbacks.py    epoch timer, stop on a non-finite loss, per-epoch checkpoint
    checkpoints.py  the checkpoint folder of one configuration
    fused/          many batches per compiled XLA call (the fast path)

Importing it imports Keras: the job starts TensorFlow quietly first
(imdb_sweep/process/quiet_tensorflow.py).
"""

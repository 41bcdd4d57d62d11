"""Training that repeats and resumes: the same numbers twice, and a run resumed from its checkpoint
goes on as an uninterrupted one would (training/checkpoints.py)."""

from __future__ import annotations


def test_deterministic_training_repeats_exactly(tiny_config):
    from imdb_sweep.data import load_imdb
    from imdb_sweep.training.fit import train

    cfg = tiny_config("train.epochs=3", "runtime.deterministic=true", "model.dropout=0.3")
    data = load_imdb(cfg.data)
    first, second = train(cfg, data), train(cfg, data)
    assert first.history == second.history
    assert first.test_loss == second.test_loss


def test_resuming_from_a_checkpoint_continues_the_history(tiny_config, tmp_path):
    from imdb_sweep.data import load_imdb
    from imdb_sweep.training.checkpoints import CheckpointStore
    from imdb_sweep.training.fit import train

    data = load_imdb(tiny_config().data)
    store = CheckpointStore(tmp_path / "checkpoints", "abc")
    partial = train(tiny_config("train.epochs=2"), data, checkpoints=store, run_id="run-1")
    state = store.load_state()
    assert state is not None and state.epochs_done == 2 and state.run_id == "run-1"
    assert state.history["val_accuracy"] == partial.history["val_accuracy"]

    resumed = train(tiny_config("train.epochs=4"), data, checkpoints=store, run_id="run-1", resume=state)
    assert len(resumed.history["val_accuracy"]) == 4
    assert resumed.history["loss"][:2] == partial.history["loss"]
    assert store.load_state().epochs_done == 4
    # The optimizer state came back too: its step counter went on from epoch 2.
    training_rows = int(len(data.x_train) * (1 - 0.2))
    steps_per_epoch = -(-training_rows // 8)
    assert int(resumed.model.optimizer.iterations) == 4 * steps_per_epoch


def test_a_resumed_checkpoint_keeps_the_best_epoch_from_before_the_interruption(tiny_config, tmp_path):
    from imdb_sweep.training.checkpoints import CheckpointStore
    from imdb_sweep.training.fit import choose_model_epoch, train
    from tests.helpers.training import MIN_VAL_LOSS, overfitting_data, same_weights

    cfg = tiny_config("train.epochs=6", "train.learning_rate=0.01")
    data = overfitting_data(cfg)
    uninterrupted = train(cfg, data, model_epoch_rule=MIN_VAL_LOSS)
    assert uninterrupted.model_epoch <= 2  # the data puts the best epoch before the interruption

    store = CheckpointStore(tmp_path / "checkpoints", "abc")
    train(tiny_config("train.epochs=2", "train.learning_rate=0.01"), data, checkpoints=store, run_id="run-1",
          model_epoch_rule=MIN_VAL_LOSS)
    state = store.load_state()
    assert state.kept_epochs == {"min_val_loss": uninterrupted.model_epoch}
    assert sorted(path.name for path in store.folder.glob("kept-*")) == [
        f"kept-min_val_loss-{uninterrupted.model_epoch}.npz"]

    resumed = train(cfg, data, checkpoints=store, run_id="run-1", resume=state, model_epoch_rule=MIN_VAL_LOSS)
    assert resumed.history == uninterrupted.history
    assert resumed.model_epoch == uninterrupted.model_epoch
    assert same_weights(resumed.model_weights, uninterrupted.model_weights)
    resumed_model = choose_model_epoch(resumed, cfg, data)
    uninterrupted_model = choose_model_epoch(uninterrupted, cfg, data)
    assert (resumed_model.test_accuracy, resumed_model.test_loss) == (
        uninterrupted_model.test_accuracy, uninterrupted_model.test_loss)


def test_early_stopping_resumed_from_a_checkpoint_stops_and_restores_as_uninterrupted(tiny_config, tmp_path):
    from imdb_sweep.training.checkpoints import CheckpointStore
    from imdb_sweep.training.fit import train
    from tests.helpers.training import overfitting_data, same_weights

    patience = ("train.learning_rate=0.01", "train.early_stopping_patience=2")
    cfg = tiny_config("train.epochs=6", *patience)
    data = overfitting_data(cfg)
    uninterrupted = train(cfg, data)
    stopped_after = len(uninterrupted.history["val_accuracy"])
    assert uninterrupted.best_epoch <= 2 < stopped_after < 6  # stopped early, best epoch before the interruption

    store = CheckpointStore(tmp_path / "checkpoints", "abc")
    train(tiny_config("train.epochs=2", *patience), data, checkpoints=store, run_id="run-1")
    resumed = train(cfg, data, checkpoints=store, run_id="run-1", resume=store.load_state())
    # Counted from epoch 1, not from the resumed epoch: it stops where the uninterrupted run did...
    assert resumed.history == uninterrupted.history
    # ...and the test split measures the same best epoch's weights.
    assert (resumed.model_epoch, resumed.model_weights) == (uninterrupted.best_epoch, None)
    assert same_weights(resumed.model.get_weights(), uninterrupted.model.get_weights())
    assert (resumed.test_accuracy, resumed.test_loss) == (uninterrupted.test_accuracy, uninterrupted.test_loss)

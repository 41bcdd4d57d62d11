"""Each model family's steady epoch time: our training path against stock Keras `fit`
of the same model on the same data, side by side in one run.

    python benchmarks/families.py [--families dense,conv1d,rnn,bag_of_ngrams,transformer]
                                  [--epochs 3] [--stock-epochs 2] [--train-limit 2000] [--rounds 1]
                                  [--output benchmarks/results/families.json] [-- key=value ...]

For each family and round, in this one process, alternating so that machine noise
hits both alike: (a) ours, imdb_sweep.training.fit.train with the job's config
(model=FAMILY and the overrides after `--`), so its model, compile settings
(runtime.jit_compile=auto: XLA where it pays), fused loop (dense) and callbacks; (b)
stock, the same family's model built by the same builder, compiled as the seed's
notebook compiles (rmsprop, the config's loss, accuracy, Keras's default jit_compile)
and fitted with model.fit(x, y, batch_size, validation_split). Steady epoch time is
the median of epochs 2..n (epoch 1 includes tracing and compiling); `--stock-epochs`
(default: --epochs) lets the stock side, 2-3x slower for some families, stop at its
first steady epoch; 0 leaves it out (ours alone: accuracy and our epoch time). Ours
also reports the test accuracy of the model a run logs (the weights of its best
validation epoch, `model_test_accuracy`). Prints a table and writes JSON.
`--train-limit` takes a stratified subset (data.train_limit), for quick runs; the full
figures run without it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from baseline import baseline_config, load_full_data, results_file, start_training_here, write_results

FAMILIES = ("dense", "conv1d", "rnn", "bag_of_ngrams", "transformer")


def steady(epoch_seconds: list[float]) -> float:
    """Median epoch time after the first (the first traces and compiles)."""
    return statistics.median(epoch_seconds[1:] or epoch_seconds)


def run_ours(cfg: Any, data: Any) -> dict[str, Any]:
    from imdb_sweep.training.fit import choose_model_epoch, train

    result = train(cfg, data)
    logged = choose_model_epoch(result, cfg, data)  # the weights a job's logged model holds
    return {"epoch_seconds": result.epoch_seconds, "best_val_accuracy": result.best_val_accuracy,
            "val_accuracy": result.history["val_accuracy"], "test_accuracy": result.test_accuracy,
            "model_epoch": logged.epoch, "model_test_accuracy": logged.test_accuracy}


def run_stock(cfg: Any, data: Any, epochs: int) -> dict[str, Any]:
    import keras

    from imdb_sweep import models
    from imdb_sweep.training.fused.batches import validation_split
    from imdb_sweep.training.model import build_model

    keras.utils.set_random_seed(cfg.seed)
    if models.family_of(cfg.model) == "dense":
        model = build_model(cfg.model, cfg.data.num_words, cfg.data.maxlen)
    else:
        model = models.build(cfg.model, num_words=cfg.data.num_words, maxlen=cfg.data.maxlen)
        (x_fit, _), _ = validation_split(data.x_train, data.y_train, cfg.train.validation_split)
        models.prepare_for_training(model, x_fit)  # a TF-IDF vector's weights, as ours learns them
    model.compile(optimizer=keras.optimizers.RMSprop(cfg.train.learning_rate), loss=cfg.train.loss,
                  metrics=["accuracy"])
    epoch_seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epoch_seconds.append(time.perf_counter() - self.started)

    history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=cfg.train.batch_size,
                        validation_split=cfg.train.validation_split, callbacks=[Timer()], verbose=0)
    _, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=cfg.runtime.evaluation_batch_size,
                                      verbose=0)
    return {"epoch_seconds": epoch_seconds, "best_val_accuracy": max(history.history["val_accuracy"]),
            "val_accuracy": [float(v) for v in history.history["val_accuracy"]], "test_accuracy": float(test_accuracy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--stock-epochs", type=int, default=None,
                        help="epochs of the stock side (default: --epochs; 0: ours alone)")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--output", default=None)
    parser.add_argument("overrides", nargs="*", help="key=value for every family's job (after --)")
    arguments = parser.parse_args()
    limit = [f"data.train_limit={arguments.train_limit}"] if arguments.train_limit else []
    start_training_here()
    results: dict[str, Any] = {}
    stock_epochs = arguments.epochs if arguments.stock_epochs is None else arguments.stock_epochs
    for family in arguments.families.split(","):
        cfg = baseline_config(f"model={family}", f"train.epochs={arguments.epochs}", "runtime.verbose=0",
                              *limit, *arguments.overrides)
        data = load_full_data(cfg)
        sides: dict[str, list[dict[str, Any]]] = {"ours": [], "stock": []}
        for _ in range(arguments.rounds):
            sides["ours"].append(run_ours(cfg, data))
            if stock_epochs:
                sides["stock"].append(run_stock(cfg, data, stock_epochs))
        ours = statistics.median(steady(run["epoch_seconds"]) for run in sides["ours"])
        stock = (statistics.median(steady(run["epoch_seconds"]) for run in sides["stock"]) if stock_epochs
                 else float("nan"))
        stock_validation = sides["stock"][0]["best_val_accuracy"] if stock_epochs else float("nan")
        results[family] = {"ours_steady_epoch_seconds": ours, "stock_steady_epoch_seconds": stock,
                           "speedup": stock / ours, "runs": sides, "train_reviews": len(data.x_train)}
        print(f"{family:>14}: ours {ours:7.3f} s/epoch  stock {stock:7.3f} s/epoch  {stock / ours:5.2f}x  "
              f"(val {sides['ours'][0]['best_val_accuracy']:.4f} / {stock_validation:.4f}, "
              f"logged model's test {sides['ours'][0]['model_test_accuracy']:.4f}, {len(data.x_train)} reviews)",
              flush=True)
    path = Path(arguments.output) if arguments.output else results_file("families")
    write_results(path, {"arguments": vars(arguments), "families": results})


if __name__ == "__main__":
    main()

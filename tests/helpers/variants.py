"""What each named variant of conf/variant/ changes from the baseline."""

from __future__ import annotations

VARIANT_CHANGES = {
    "baseline": {},
    "two_layers": {"model.hidden_layers": 2},
    "three_layers": {"model.hidden_layers": 3},
    "units64": {"model.units": 64},
    "mse": {"train.loss": "mse"},
    "tanh": {"model.activation": "tanh"},
    "dropout": {"model.dropout": 0.5},
    "l2": {"model.l2": 0.001},
}

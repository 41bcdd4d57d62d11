"""The fused training loop: many batches per compiled XLA call (model.py), its
grouped data (batches.py), every optimizer's dense embedding update
(optimizers.py), Dropout's hashed masks (dropout.py), and the private Keras
state it needs, fenced in keras_internals.py."""

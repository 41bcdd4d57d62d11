"""The model each job logs for use: raw review text in, probability and label out.

    text_model.py   the MLflow pyfunc (TextModel): input checks, encoding, scoring
    model_code.py   the code file MLflow runs to load it (models from code)
    bundle.py       its artifacts, bundled package code, signature and example

Nothing here imports TensorFlow at import time, nor training or tracking code:
the package root, process/, data/ and this folder travel with every logged model.
"""

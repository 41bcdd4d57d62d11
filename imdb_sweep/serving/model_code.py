"""The logged model's code file (MLflow "models from code"): MLflow runs this
file when it loads the model, after putting the model's bundled package code
first on sys.path. MLflow 3 refuses pickled Python models unless told
otherwise, so the model is defined by code, not by a pickle."""

from mlflow.models import set_model

from imdb_sweep.serving.text_model import TextModel

set_model(TextModel())

"""The commit-type classifier: `train` fits and registers it in MLflow, `predict` scores unlabelled commits.

Reads analytics.ml_commit_features, writes MLflow runs/registry and analytics.commit_type_predictions. mlflow,
scikit-learn, skops and pandas are imported inside the functions, so importing this package stays cheap.
"""

from commitlake.ml._predict import PREDICTIONS_TABLE, PredictReport, predict
from commitlake.ml._registry import CHALLENGER, CHAMPION, EXPERIMENT_NAME
from commitlake.ml._train import TrainReport, train

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "EXPERIMENT_NAME",
    "PREDICTIONS_TABLE",
    "PredictReport",
    "TrainReport",
    "predict",
    "train",
]

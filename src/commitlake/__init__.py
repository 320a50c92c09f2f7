"""commitlake: GitHub commits → immutable lake → dbt warehouse → quality gate → MLflow classifier."""

__version__ = "0.1.0"

__all__ = ["__version__"]

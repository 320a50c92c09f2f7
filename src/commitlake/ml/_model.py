"""The classifier: one scikit-learn Pipeline from a feature row to a commit type, and its safe (de)serialization.

Why a linear model over TF-IDF: commit subjects are short and their vocabulary is the signal ("bump",
"typo", "readme", "flaky"); word and character n-grams with a linear classifier train on one core in about a
minute for ~30k rows (linear in rows), score in batches with flat memory, and serialize to skops with sklearn
types only. Character
n-grams catch word pieces and identifiers ("deps", "eslint-plugin", "tsconfig"); the numeric part adds what the
subject cannot say: which kinds of files changed and how much. One precedence rule sits in the Pipeline itself
(CommitTypePipeline): a subject that quotes a conventional header is a revert.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commitlake.errors import CommitlakeError
from commitlake.ml._features import BODY_COLUMN, NUMERIC_COLUMNS, PATHS_COLUMN, TEXT_COLUMN, TEXT_COLUMNS
from commitlake.ml._workers import fit_jobs, map_in_workers

if TYPE_CHECKING:
    import numpy as np
    from sklearn.pipeline import Pipeline

__all__ = [
    "CANDIDATES",
    "DEFAULT_CANDIDATE",
    "DERIVED_NAMES",
    "REVERT_TYPE",
    "SKOPS_TRUSTED_TYPES",
    "build_pipeline",
    "commit_type_pipeline",
    "derive_numeric",
    "keyword_flags",
    "load_registered_model",
    "margin_svc",
    "quoted_header_pattern",
    "re2_contains_pattern",
    "single_threaded",
]

#: The candidates and their default hyper-parameters (logged to MLflow as params). `linear` is a linear SVM
#: (liblinear, squared hinge, classes balanced) over hashed TF-IDF word and character n-grams of the subject,
#: the body's words and path tokens: it trains on one core in seconds and is hard to beat on short texts. On
#: leave-repositories-out it scored 0.463 macro-F1 against 0.438 for averaged log-loss SGD on the same
#: features (bench/bench_ml.py), and a sigmoid-calibrated version of it only 0.383: calibration pulls the
#: decisions back towards the frequent types, which is what balanced weights were for. `random_forest` is the
#: design document's model, on a
#: smaller hashed vocabulary (trees split one feature at a time, so 2**12 buckets carry the signal) plus the
#: numeric features. `hist_gb` is gradient boosting on the dense features and a 50-dimensional SVD of the text.
CANDIDATES: dict[str, dict[str, Any]] = {
    "linear": {
        "word_ngram_range": (1, 2),
        "word_hash_features": 2**17,
        "char_ngram_range": (3, 5),
        "char_hash_features": 2**17,
        "body_hash_features": 2**17,
        "path_hash_features": 2**14,
        "C": 0.1,
        "class_weight": "balanced",
        # 1e-2, not liblinear's 1e-4: 1e-3 gave the same time-split macro-F1 (0.5522) in 57 % of the fit time, and
        # 1e-2 the same leave-repositories-out and time-split scores as 1e-3 to four decimals (0.4965 / 0.5775 on
        # the 15k search sample of the shared histories) in 85 % of it; 3-5 character grams, not 2-5: 0.553 in
        # half the time again (bench/bench_ml.py, 38k commits).
        "tol": 1e-2,
        # Per-type margin offsets tuned on the search's out-of-fold margins (ml._offsets); not an SVM parameter.
        "margin_offsets": True,
    },
    "random_forest": {
        "word_hash_features": 2**12,
        "body_hash_features": 2**10,
        "path_hash_features": 2**10,
        "n_estimators": 80,
        "max_features": "sqrt",
        "max_depth": 40,
        "min_samples_leaf": 2,
        "class_weight": "balanced_subsample",
    },
    "hist_gb": {
        "word_hash_features": 2**15,
        "body_hash_features": 2**15,
        "path_hash_features": 2**12,
        # 50 components and 30 rounds at 0.25: about a third of the old 100/60/0.15 fit (~31 s → ~19 s on a busy
        # machine) for 0.48 instead of 0.51 time-split macro-F1; it ranked third on leave-repositories-out anyway.
        "svd_components": 50,
        "learning_rate": 0.25,
        "max_iter": 30,
        "max_leaf_nodes": 31,
        # 63 bins, not 255: the fit in 47 % of the time (8.6 s vs 18.3 s per fold of the 15k search sample) for the
        # same scores (leave-repositories-out 0.391 vs 0.385, time split 0.508 vs 0.508): SVD components and
        # log sizes need no finer histogram, and the class weights make every bin cost.
        "max_bins": 63,
        "class_weight": "balanced",
    },
}
DEFAULT_CANDIDATE = "linear"

#: Everything in the pipeline that skops does not trust by default. Loading uses this list from *our* code,
#: never the list stored beside the model, so a tampered artifact cannot widen what gets deserialized.
#: TreePredictor (hist_gb) and Tree (random_forest) are on it although skops flags their unchecked node
#: indices (a *crafted* file could crash predict): our artifacts come only from our own registry.
SKOPS_TRUSTED_TYPES: list[str] = [
    "commitlake.ml._model.CommitTypePipeline",
    "commitlake.ml._model.MarginSVC",
    "commitlake.ml._model.derive_numeric",
    "commitlake.ml._model.keyword_flags",
    "commitlake.ml._hashing.FastHashingVectorizer",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]

_FILE_COUNTS = slice(6, 11)  # n_test_files .. n_src_files in NUMERIC_COLUMNS order
_SIZES = slice(2, 6)  # message_length, files_changed, additions, deletions
_HOUR, _DOW, _AUTHOR_PRIOR = 11, 12, 13
#: Names of derive_numeric's output columns, for feature importances.
DERIVED_NAMES: tuple[str, ...] = (
    "is_bot", "has_body", "log_message_length", "log_files_changed", "log_additions", "log_deletions",
    "share_test_files", "share_doc_files", "share_ci_files", "share_build_files", "share_src_files",
    "hour_sin", "hour_cos", "weekend", "log_author_prior_commits",
)  # fmt: skip
#: Path tokens: directory names, file stems and extensions (`packages/vite/package.json` → packages vite package json).
_PATH_TOKENS = r"[a-z0-9_\-]+"


def _margin_svc_class() -> type:
    from sklearn.svm import LinearSVC

    class MarginSVC(LinearSVC):
        """LinearSVC with `predict_proba` (a softmax over its one-vs-rest margins) and per-type margin offsets
        (ml._offsets: set_margin_offsets, then decision_function, predict and predict_proba add them).

        Why not CalibratedClassifierCV: it costs four fits instead of one and its argmax lost 0.08 macro-F1 on
        unseen repositories (calibration undoes the balanced class weights). The predicted type is the SVM's
        own; the softmax orders the types by margin and sums to 1, and the predictions table documents it as
        the model's confidence, not a calibrated probability.
        """

        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
            """liblinear's one-vs-rest, one binary problem per type, spread over fit_jobs() processes.

            Each problem is what liblinear solves inside its own multi-class fit (the type's rows weighted by its
            class weight, the rest by 1), but seeded on its own, so the model is the same however many
            processes solve them: liblinear's multi-class loop draws one random stream across all types.
            """
            import numpy as np
            from sklearn.utils.class_weight import compute_class_weight
            from sklearn.utils.validation import validate_data

            self.__dict__.pop("margin_offsets_", None)  # offsets belong to the margins of one fit
            classes = np.unique(np.asarray(y))
            if len(classes) <= 2 or sample_weight is not None or self.multi_class != "ovr":
                return super().fit(X, y, sample_weight)
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64, order="C",
                                 accept_large_sparse=False)  # fmt: skip
            weights = (
                np.ones(len(classes)) if self.class_weight is None
                else compute_class_weight(self.class_weight, classes=classes, y=y)
            )  # fmt: skip
            params = self.get_params()
            calls = [(params, X, (y == c).astype(np.int8), float(w)) for c, w in zip(classes, weights, strict=True)]
            solved = map_in_workers(_one_vs_rest, calls, min(fit_jobs(), len(calls)))
            self.classes_ = classes
            self.coef_ = np.vstack([coef for coef, _intercept, _n in solved])
            self.intercept_ = np.array([intercept for _coef, intercept, _n in solved])
            self.n_iter_ = max(n for _coef, _intercept, n in solved)
            return self

        def set_margin_offsets(self, offsets: Any) -> None:
            """Per-type constants added to the margins (ml._offsets): predict and predict_proba follow them."""
            import numpy as np

            offsets = np.asarray(offsets, dtype=np.float64)
            if offsets.shape != (len(self.classes_),) or len(self.classes_) < 3:
                raise CommitlakeError(f"margin offsets need one value per type of {len(self.classes_)} (3 or more)")
            self.margin_offsets_ = offsets

        def decision_function(self, X: Any) -> np.ndarray:
            margins = super().decision_function(X)
            offsets = getattr(self, "margin_offsets_", None)  # None: unset, or a model registered before them
            return margins if offsets is None else margins + offsets

        def predict_proba(self, x: Any) -> np.ndarray:
            import numpy as np
            from scipy.special import softmax

            margins = np.atleast_2d(self.decision_function(x))
            if margins.shape[0] != np.shape(x)[0] or len(self.classes_) == 2:  # binary: one margin per row
                margins = np.column_stack([-np.ravel(margins), np.ravel(margins)])
            return softmax(margins, axis=1)

    MarginSVC.__module__ = __name__
    MarginSVC.__qualname__ = "MarginSVC"
    return MarginSVC


def _one_vs_rest(params: dict[str, Any], x: Any, is_type: Any, weight: float) -> tuple[Any, float, int]:
    """(coef row, intercept, iterations) of one type against the rest: liblinear's own binary problem."""
    from sklearn.svm import LinearSVC

    binary = LinearSVC(**{**params, "class_weight": {0: 1.0, 1: weight}}).fit(x, is_type)
    return binary.coef_[0], float(binary.intercept_[0]), int(binary.n_iter_)


def _lazy_class(name: str, build: Callable[[], type]) -> type:
    """The module's class `name`, built on first use so importing this module does not import scikit-learn."""
    cls = globals().get(name)
    if cls is None:
        cls = globals()[name] = build()
    return cls


def margin_svc() -> type:
    """The MarginSVC class (built on first use)."""
    return _lazy_class("MarginSVC", _margin_svc_class)


#: The type a quoted conventional header means (CommitTypePipeline's precedence rule).
REVERT_TYPE = "revert"


def quoted_header_pattern(types: Iterable[str]) -> str:
    """A subject that, with its own prefix stripped, still opens with `type(scope)!: ` or `"type: ` of one of
    `types`: the header of the commit it quotes."""
    import re

    names = "|".join(re.escape(t) for t in sorted(types, key=lambda t: (-len(t), t)))
    return rf'^"?(?:{names})(?:\([^)]*\))?!?:\s'


def _commit_type_pipeline_class() -> type:
    import numpy as np
    from sklearn.pipeline import Pipeline

    class CommitTypePipeline(Pipeline):
        """The features and classifier Pipeline, plus one precedence rule: revert when the prefix-stripped subject
        still opens with a conventional header.

        Why a rule and not a feature: such a subject quotes the commit it reverts (`revert: fix(x): …`,
        `revert: "feat: …"`); 35 of the 36 in the shared histories are reverts, but they are too few for the
        regularised models to weigh (revert F1 0.0 on unseen repositories with the flag as a feature). Inside
        the Pipeline, so `predict`, every evaluation and the registered model apply it alike. The pattern is
        built at fit time from the types the model learned; predict_proba gives those rows revert at 1.0.
        """

        def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
            super().fit(X, y, **params)
            classes = [str(c) for c in self.classes_]
            self.quoted_header_ = quoted_header_pattern(classes) if REVERT_TYPE in classes else ""
            return self

        def _quoted(self, X: Any) -> np.ndarray:
            pattern = getattr(self, "quoted_header_", "")
            if not pattern or not hasattr(X, "columns") or TEXT_COLUMN not in X.columns:
                return np.zeros(len(X), dtype=bool)
            return X[TEXT_COLUMN].astype(str).str.match(pattern).to_numpy(dtype=bool)

        def predict(self, X: Any, **params: Any) -> np.ndarray:
            predicted = super().predict(X, **params)
            quoted = self._quoted(X)
            return np.where(quoted, REVERT_TYPE, predicted) if quoted.any() else predicted

        def predict_proba(self, X: Any, **params: Any) -> np.ndarray:
            proba = super().predict_proba(X, **params)
            quoted = self._quoted(X)
            if quoted.any():
                proba = np.array(proba, copy=True)
                proba[quoted] = 0.0
                proba[quoted, [str(c) for c in self.classes_].index(REVERT_TYPE)] = 1.0
            return proba

    CommitTypePipeline.__module__ = __name__
    CommitTypePipeline.__qualname__ = "CommitTypePipeline"
    return CommitTypePipeline


def commit_type_pipeline() -> type:
    """The CommitTypePipeline class (built on first use)."""
    return _lazy_class("CommitTypePipeline", _commit_type_pipeline_class)


def __getattr__(name: str) -> Any:
    """`commitlake.ml._model.MarginSVC` and `.CommitTypePipeline` resolve for skops, which loads classes by their
    dotted name."""
    if name == "MarginSVC":
        return margin_svc()
    if name == "CommitTypePipeline":
        return commit_type_pipeline()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def keyword_flags(x: Any) -> Any:
    """[subject, body] → one 0/1 column per keyword rule (baselines.KEYWORD_RULES) and text column.

    Why: the rules are what generalises across projects ("revert", "typo", "bump"); as features the model
    learns how much to trust each one instead of taking the first that matches. Matched by RE2 over whole
    columns (pyarrow), not Python's `re` row by row: at 1M commits the row-by-row matching was a fifth of
    predict. Module-level so skops can name it.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    from scipy.sparse import csr_matrix

    frame = pd.DataFrame(x)
    patterns = _re2_keyword_patterns()
    columns = []
    for i in range(frame.shape[1]):
        texts = pa.array(frame.iloc[:, i].astype(str).tolist(), type=pa.large_string())
        columns += [pc.match_substring_regex(texts, pattern).to_numpy(zero_copy_only=False) for pattern in patterns]
    return csr_matrix(np.column_stack(columns).astype(np.float32))


#: Not a word character of Python's `re` on str patterns (Unicode letters, digits, the underscore), in RE2 syntax.
_RE2_NON_WORD = r"[^\pL\pN_]"


def re2_contains_pattern(pattern: str) -> str:
    r"""`pattern` (Python `re`) for RE2, which has no `\b`: a boundary before a word character becomes "start or a
    non-word character", one after it "a non-word character or end". Not the same match span, but the same
    answer to "does the text contain a match", which is all the flags ask (tests compare them on real texts)."""
    import re

    leading = re.sub(r"\\b(?=[\w(\[])", lambda _m: f"(?:^|{_RE2_NON_WORD})", pattern)
    return leading.replace(r"\b", f"(?:{_RE2_NON_WORD}|$)")


def _re2_keyword_patterns() -> list[str]:
    from commitlake.ml._baselines import KEYWORD_RULES

    return [re2_contains_pattern(pattern.pattern) for _label, pattern in KEYWORD_RULES]


def derive_numeric(x: Any) -> np.ndarray:
    """NUMERIC_COLUMNS → [is_bot, has_body, log1p(sizes)…, file-kind shares…, hour (sin, cos), weekend,
    log1p(author's earlier commits)].

    Shares, not counts, because "3 of 3 files are tests" means `test` whatever the commit's size; log1p
    because sizes span six orders of magnitude (a lockfile bump vs. a typo). Module-level so skops can name it.
    """
    import numpy as np

    values = np.asarray(x, dtype=np.float64)
    values = np.where(np.isfinite(values) & (values > 0), values, 0.0)
    counts = values[:, _FILE_COUNTS]
    total = np.maximum(np.maximum(values[:, 3], counts.sum(axis=1)), 1.0)
    shares = counts / total[:, None]
    angle = values[:, _HOUR] * (2 * np.pi / 24)
    weekend = (values[:, _DOW] >= 6).astype(np.float64)
    return np.hstack(
        [
            values[:, 0:2],
            np.log1p(values[:, _SIZES]),
            shares,
            np.sin(angle)[:, None],
            np.cos(angle)[:, None],
            weekend[:, None],
            np.log1p(values[:, _AUTHOR_PRIOR])[:, None],
        ]
    )


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS/OpenMP on one thread while fitting and scoring.

    Why: sklearn's loss and BLAS spin up a thread per core; on a shared 2-core node (CI, other pods) those
    threads spin-wait for each other and a 1-second fit took 11 s in measurement. One thread also pins the
    floating-point summation order, so the same data gives the same metrics on any machine.
    """
    import sklearn.linear_model  # noqa: F401  load sklearn's OpenMP runtime first: limits only reach loaded libraries
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _hashed_tfidf(
    analyzer: str, ngram_range: tuple[int, int], n_features: int, token_pattern: str | None = None
) -> Pipeline:
    """Hashed n-gram counts → TF-IDF. Hashing, not a vocabulary: a 100k-entry vocabulary dict took minutes to
    write and read with skops (it stores dicts item by item), while hashing leaves one idf array to store. The
    hashing is sklearn's HashingVectorizer computed by NumPy over whole batches (_hashing.py): the same matrix."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.pipeline import Pipeline

    from commitlake.ml._hashing import fast_hashing_vectorizer

    extra = {} if token_pattern is None else {"token_pattern": token_pattern}
    hashing = fast_hashing_vectorizer()(
        analyzer=analyzer,
        ngram_range=ngram_range,
        n_features=n_features,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
        **extra,
    )
    return Pipeline([("hash", hashing), ("tfidf", TfidfTransformer(sublinear_tf=True))])


def _body(hash_features: int, ngram_range: tuple[int, int] = (1, 2)) -> tuple[str, Any, str]:
    """The body's words: "this reverts commit", "bumps x from", "breaking change" say what the subject may not."""
    return ("body", _hashed_tfidf("word", ngram_range, hash_features), BODY_COLUMN)


def _paths(hash_features: int) -> tuple[str, Any, str]:
    """The changed paths' tokens (directories, names, extensions), hashed: every candidate reads them alike."""
    return ("path", _hashed_tfidf("word", (1, 1), hash_features, _PATH_TOKENS), PATHS_COLUMN)


def _keywords() -> tuple[str, Any, list[str]]:
    from sklearn.preprocessing import FunctionTransformer

    return ("keywords", FunctionTransformer(keyword_flags), [TEXT_COLUMN, BODY_COLUMN])


def _numeric(scale: bool) -> Pipeline:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    steps: list[tuple[str, Any]] = [("derive", FunctionTransformer(derive_numeric))]
    if scale:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)


def build_pipeline(random_state: int, candidate: str = DEFAULT_CANDIDATE, **overrides: Any) -> Pipeline:
    """The named candidate's CommitTypePipeline (CANDIDATES[candidate] updated with `overrides`), unfitted."""
    builders = {"linear": _linear, "random_forest": _random_forest, "hist_gb": _hist_gb}
    if candidate not in CANDIDATES or candidate not in builders:
        raise CommitlakeError(f"unknown model candidate {candidate!r}; known: {', '.join(CANDIDATES)}")
    features, classifier = builders[candidate]({**CANDIDATES[candidate], **overrides}, random_state)
    return commit_type_pipeline()([("features", features), ("classifier", classifier)])


def _linear(p: dict[str, Any], random_state: int) -> tuple[Any, Any]:
    """Word and character TF-IDF, the body, paths and scaled numbers into a linear SVM (fast on sparse text)."""
    from sklearn.compose import ColumnTransformer

    features = ColumnTransformer(
        [
            ("word", _hashed_tfidf("word", p["word_ngram_range"], p["word_hash_features"]), TEXT_COLUMN),
            ("char", _hashed_tfidf("char_wb", p["char_ngram_range"], p["char_hash_features"]), TEXT_COLUMN),
            _body(p["body_hash_features"]),
            _paths(p["path_hash_features"]),
            _keywords(),
            ("numeric", _numeric(scale=True), list(NUMERIC_COLUMNS)),
        ],
        sparse_threshold=1.0,
    )
    classifier = margin_svc()(C=p["C"], class_weight=p["class_weight"], tol=p["tol"], random_state=random_state)
    return features, classifier


def _random_forest(p: dict[str, Any], random_state: int) -> tuple[Any, Any]:
    """The design's RandomForest on word unigrams, paths and raw numbers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier

    features = ColumnTransformer(
        [
            ("word", _hashed_tfidf("word", (1, 1), p["word_hash_features"]), TEXT_COLUMN),
            _body(p["body_hash_features"], (1, 1)),
            _paths(p["path_hash_features"]),
            ("numeric", _numeric(scale=False), list(NUMERIC_COLUMNS)),
        ],
        sparse_threshold=1.0,
    )
    classifier = RandomForestClassifier(
        n_estimators=p["n_estimators"],
        max_features=p["max_features"],
        max_depth=p["max_depth"],
        min_samples_leaf=p["min_samples_leaf"],
        class_weight=p["class_weight"],
        random_state=random_state,
        n_jobs=1,
    )
    return features, classifier


def _hist_gb(p: dict[str, Any], random_state: int) -> tuple[Any, Any]:
    """Gradient boosting on a dense SVD of the text and paths plus the numbers (boosting needs dense input)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import TruncatedSVD
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    text = ColumnTransformer(
        [
            ("word", _hashed_tfidf("word", (1, 2), p["word_hash_features"]), TEXT_COLUMN),
            _body(p["body_hash_features"]),
            _paths(p["path_hash_features"]),
        ],
        sparse_threshold=1.0,
    )
    features = ColumnTransformer(
        [
            (
                "svd",
                Pipeline([("text", text), ("svd", TruncatedSVD(p["svd_components"], random_state=random_state))]),
                list(TEXT_COLUMNS),
            ),
            ("numeric", _numeric(scale=False), list(NUMERIC_COLUMNS)),
        ],
        sparse_threshold=0.0,
    )
    classifier = HistGradientBoostingClassifier(
        learning_rate=p["learning_rate"],
        max_iter=p["max_iter"],
        max_leaf_nodes=p["max_leaf_nodes"],
        max_bins=p["max_bins"],
        class_weight=p["class_weight"],
        early_stopping=False,
        random_state=random_state,
    )
    return features, classifier


def load_registered_model(model_uri: str, tracking_uri: str) -> tuple[Pipeline, dict[str, Any]]:
    """Download `models:/…` and load it with skops and SKOPS_TRUSTED_TYPES; returns (pipeline, MLmodel dict).

    Why not `mlflow.sklearn.load_model`: it takes the trusted-type list from the artifact itself and refuses
    pickle-free loading unless an environment flag allows it; here the allow-list is ours.
    """
    import tempfile

    import mlflow.artifacts
    import skops.io
    from mlflow.models import Model

    with tempfile.TemporaryDirectory(prefix="commitlake-model-") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=model_uri, tracking_uri=tracking_uri, dst_path=tmp)
        )
        mlmodel = Model.load(str(local))
        flavor = mlmodel.flavors.get("sklearn") or {}
        if flavor.get("serialization_format") != "skops":
            raise CommitlakeError(
                f"{model_uri} is not a skops-serialized sklearn model "
                f"(format {flavor.get('serialization_format')!r}); refusing to unpickle it"
            )
        pipeline = skops.io.load(local / flavor["pickled_model"], trusted=SKOPS_TRUSTED_TYPES)
    return pipeline, mlmodel.to_dict()

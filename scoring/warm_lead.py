"""The warm-lead model: one scikit-learn Pipeline (ColumnTransformer of text n-grams, intent cues, sentiment and
author signals -> logistic regression) whose C, n-gram range, Platt calibration and F1 threshold are chosen by
cross-validation on the training rows, with a DataFrame-free fast path and per-score reasons read off the linear
contributions."""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from scoring.features import (
    AUTHOR_COLUMNS,
    CUE_REASONS,
    STYLE_REASONS,
    TEXT,
    AuthorFeatures,
    CueFeatures,
    StyleFeatures,
    handles,
)

NAME = "warm_lead"
# Below this many rows the hand-rolled tf-idf beats TfidfVectorizer.transform (whose fixed per-call cost dominates);
# above it, sklearn's batch loop is faster.
FAST_TFIDF_MAX_ROWS = 16


LARGE_ROWS = 50_000


def build_pipeline(
    *, c: float = 3.0, large: bool = False, char_range: tuple[int, int] = (2, 5), style_weight: float = 0.3
) -> Pipeline:
    """Word 1-2-grams + char n-grams, cues, form of the post and author signals -> liblinear logistic regression;
    for large sets (> LARGE_ROWS rows) word n-grams only and SGD with log loss, so 100k mentions train in under a
    minute."""
    parts: list[tuple[str, Any, Any]] = [
        (
            "word",
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1 if not large else 2, max_features=150_000),
            TEXT,
        ),
    ]
    if not large:
        # Character n-grams carry most of the gain on short, misspelt posts (ROC-AUC +0.04 on the complaint data)
        # but cost 3x the word analyser; with many rows word n-grams see enough spellings.
        parts.append(
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=char_range, sublinear_tf=True, min_df=2, max_features=150_000
                ),
                TEXT,
            )
        )
    parts += [
        ("cues", CueFeatures(), TEXT),
        ("style", StyleFeatures(weight=style_weight), TEXT),
        ("author", AuthorFeatures(), list(AUTHOR_COLUMNS)),
    ]
    columns = ColumnTransformer(parts, remainder="drop", sparse_threshold=1.0)
    classifier: LogisticRegression | SGDClassifier
    if large:
        classifier = SGDClassifier(
            loss="log_loss", alpha=2e-6, class_weight="balanced", max_iter=20, tol=1e-4, random_state=0
        )
    else:
        classifier = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", solver="liblinear")
    return Pipeline([("features", columns), ("classifier", classifier)])


def frame(records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Records (or a frame) -> the columns the pipeline reads, missing author columns as None."""
    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if TEXT not in df.columns:
        df[TEXT] = ""
    df[TEXT] = df[TEXT].fillna("").astype(str)
    for column in AUTHOR_COLUMNS:
        if column not in df.columns:
            df[column] = None
    return df[[TEXT, *AUTHOR_COLUMNS]]


@dataclass
class Prediction:
    probability: float
    score: float
    reasons: tuple[str, ...]
    model_version: str


@dataclass
class WarmLeadModel:
    """A fitted pipeline plus its Platt calibration, decision threshold and the brand handles it learned."""

    pipeline: Pipeline
    platt_a: float = 1.0
    platt_b: float = 0.0
    threshold: float = 0.5
    brand_handles: frozenset[str] = frozenset()
    version: str = "unversioned"
    _names: np.ndarray | None = field(default=None, repr=False)
    _readable_mask: np.ndarray | None = field(default=None, repr=False)
    _names_py: list[str] | None = field(default=None, repr=False)
    _analysers: dict[int, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ features

    def _fill_competitor(self, record: Mapping[str, Any]) -> Any:
        value = record.get("competitor_mentioned")
        if value is None and self.brand_handles:
            text = record.get(TEXT) or ""
            return 1 if any(h in self.brand_handles for h in handles(str(text))) else 0
        return value

    def prepare(self, records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
        df = frame(records)
        if self.brand_handles:
            missing = df["competitor_mentioned"].isna()
            if missing.any():
                df.loc[missing, "competitor_mentioned"] = [
                    1 if any(h in self.brand_handles for h in handles(t)) else 0 for t in df.loc[missing, TEXT]
                ]
        return df

    def transform_fast(self, records: Sequence[Mapping[str, Any]]) -> sparse.csr_matrix:
        """The ColumnTransformer's output without building a DataFrame: each fitted part on plain lists."""
        texts = [str(r.get(TEXT) or "") for r in records]
        author = [[self._fill_competitor(r), *(r.get(c) for c in AUTHOR_COLUMNS[1:])] for r in records]
        columns: ColumnTransformer = self.pipeline.named_steps["features"]
        blocks = []
        for _name, transformer, spec in columns.transformers_:
            if transformer == "drop":
                continue
            if isinstance(transformer, TfidfVectorizer) and len(texts) <= FAST_TFIDF_MAX_ROWS:
                block = self._tfidf(transformer, texts)
            else:
                block = transformer.transform(texts if spec == TEXT else author)
            blocks.append(block if sparse.issparse(block) else sparse.csr_matrix(block))
        return sparse.hstack(blocks, format="csr")

    def _tfidf(self, vectorizer: TfidfVectorizer, texts: list[str]) -> sparse.csr_matrix:
        """TfidfVectorizer.transform without its per-call validation (most of a one-row call's cost); the same
        numbers for the sublinear-tf, l2-normalised setup build_pipeline uses."""
        key = id(vectorizer)
        if key not in self._analysers:
            self._analysers[key] = (vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_)
        analyse, vocabulary, idf = self._analysers[key]
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        for text in texts:
            counts: dict[int, int] = {}
            for gram in analyse(text):
                j = vocabulary.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            cols = sorted(counts)
            row = np.asarray([(1.0 + math.log(counts[j])) * idf[j] for j in cols], dtype=np.float64)
            norm = math.sqrt(float(row @ row)) if len(row) else 0.0
            if norm > 0:
                row /= norm
            indices.extend(cols)
            values.extend(row.tolist())
            indptr.append(len(indices))
        shape = (len(texts), len(idf))
        return sparse.csr_matrix(
            (np.asarray(values), np.asarray(indices, dtype=np.int32), np.asarray(indptr)), shape=shape
        )

    # ------------------------------------------------------------------ probabilities

    def _classifier(self) -> LogisticRegression | SGDClassifier:
        clf: LogisticRegression | SGDClassifier = self.pipeline.named_steps["classifier"]
        return clf

    def _calibrate(self, decision: np.ndarray) -> np.ndarray:
        z = np.clip(self.platt_a * decision + self.platt_b, -35, 35)
        return 1.0 / (1.0 + np.exp(-z))

    def decision(self, matrix: sparse.csr_matrix) -> np.ndarray:
        clf = self._classifier()
        return np.asarray(matrix @ clf.coef_[0] + clf.intercept_[0]).ravel()

    def predict_proba(self, records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities for many rows (the batch path goes through the DataFrame once)."""
        df = self.prepare(records)
        return self._calibrate(self.pipeline.decision_function(df))

    def predict_proba_fast(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self._calibrate(self.decision(self.transform_fast(records)))

    # ------------------------------------------------------------------ reasons

    def feature_names(self) -> np.ndarray:
        if self._names is None:
            self._names = self.pipeline.named_steps["features"].get_feature_names_out()
        return self._names

    def _readable(self) -> np.ndarray:
        """Mask of features that can be phrased (character n-grams carry weight but read as noise)."""
        if self._readable_mask is None:
            self._readable_mask = np.asarray([not str(n).startswith("char__") for n in self.feature_names()])
        return self._readable_mask

    def _explain_row(
        self, indices: list[int], values: list[float], contrib: list[float], record: Mapping[str, Any], top: int
    ) -> list[str]:
        """Phrase one row's strongest positive readable contributions (already filtered to readable and > 0)."""
        order = sorted(range(len(contrib)), key=contrib.__getitem__, reverse=True)[: 3 * top]
        names = self._name_list()
        competitors = [str(c) for c in (record.get("competitors") or [])]
        reasons: list[str] = []
        for position in order:
            phrase = _phrase(names[indices[position]], values[position], record, competitors)
            if phrase and phrase not in reasons:
                reasons.append(phrase)
                if len(reasons) >= top:
                    break
        return reasons

    def _name_list(self) -> list[str]:
        if self._names_py is None:
            self._names_py = [str(n) for n in self.feature_names()]
        return self._names_py

    def _explain_all(
        self, matrix: sparse.csr_matrix, records: Sequence[Mapping[str, Any]], top: int
    ) -> list[list[str]]:
        # One vectorised pass keeps only readable features pushing the score up; the per-row loop then sees a
        # handful of entries instead of every n-gram.
        coef = self._classifier().coef_[0]
        contrib = matrix.data * coef[matrix.indices]
        keep = self._readable()[matrix.indices] & (contrib > 0)
        if keep.size:
            starts = np.minimum(matrix.indptr[:-1], keep.size - 1)
            counts = np.add.reduceat(keep.astype(np.int64), starts)
            counts[np.diff(matrix.indptr) == 0] = 0  # reduceat repeats a value for empty rows
        else:
            counts = np.zeros(len(records), dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        # Plain Python lists from here: per-row numpy slicing costs more than the few entries it holds.
        indices = matrix.indices[keep].tolist()
        values = matrix.data[keep].tolist()
        kept = contrib[keep].tolist()
        edges = bounds.tolist()
        out = []
        for i, record in enumerate(records):
            start, end = edges[i], edges[i + 1]
            out.append(self._explain_row(indices[start:end], values[start:end], kept[start:end], record, top))
        return out

    def explain(self, matrix: sparse.csr_matrix, record: Mapping[str, Any], top: int = 5) -> list[str]:
        """The strongest positive contributions of the first row, phrased for the board."""
        return self._explain_all(sparse.csr_matrix(matrix[0]), [record], top)[0]

    def score_records(self, records: Sequence[Mapping[str, Any]], *, explain: bool = True) -> list[Prediction]:
        """Score rows with the fast path; each result carries its reasons (records may hold `competitors` names)."""
        if not records:
            return []
        matrix = self.transform_fast(records)
        probs = self._calibrate(self.decision(matrix))
        reasons = self._explain_all(matrix, records, 5) if explain else [[] for _ in records]
        return [
            Prediction(float(p), round(100 * float(p), 1), tuple(r), self.version)
            for p, r in zip(probs.tolist(), reasons, strict=True)
        ]


def _short_count(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 1000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{int(n)}"


def _phrase(name: str, value: float, record: Mapping[str, Any], competitors: list[str]) -> str | None:
    part, _, feature = name.partition("__")
    if part == "cues" and feature.startswith("sent_"):
        if feature == "sent_pos":
            return None
        return "negative tone" if feature == "sent_neg" or value < 0 else "positive tone"
    if part == "cues":
        if feature == "alternative" and competitors:
            return f"asks for an alternative to {', '.join(competitors)}"
        if feature == "complaint" and competitors:
            return f"complains about {', '.join(competitors)}"
        return CUE_REASONS.get(feature)
    if part == "style":
        # Standardised values: above zero means more of it than the average training post; a positive
        # contribution from a below-average value ("no link") is not worth a reason on the board.
        return STYLE_REASONS.get(feature) if value > 0 else None
    if part == "author":
        if feature == "competitor":
            return f"mentions competitor {', '.join(competitors)}" if competitors else "addresses a watched brand"
        if feature == "reach" and record.get("followers"):
            return f"author has {_short_count(float(record['followers']))} followers"
        if feature == "engagement":
            total = sum(float(record.get(k) or 0) for k in ("likes", "reposts", "replies"))
            return f"post has {_short_count(total)} interactions" if total else None
        if feature == "recency":
            return "posted recently"
        if feature == "dm_open":
            return "DMs open"
        if feature == "prior_interactions" and record.get("prior_interactions"):
            return "has interacted with us before"
        return None
    if part == "word":
        return f'says "{feature}"'
    return None  # character n-grams carry weight but read as noise


# ---------------------------------------------------------------------------- training


def infer_brand_handles(texts: Sequence[str], min_count: int = 3) -> frozenset[str]:
    """Handles addressed at least `min_count` times in the training texts: the brands a labelled file is about.

    Stands in for a watch's competitor list when a file has no `competitor_mentioned` column."""
    counts: dict[str, int] = {}
    for text in texts:
        for h in set(handles(text)):
            counts[h] = counts.get(h, 0) + 1
    return frozenset(h for h, n in counts.items() if n >= min_count)


def _drop_stop_words(pipeline: Pipeline) -> None:
    """TfidfVectorizer keeps every pruned term in `stop_words_` (only for introspection); dropping it keeps the
    artifact small."""
    for _name, transformer, _cols in pipeline.named_steps["features"].transformers_:
        if hasattr(transformer, "stop_words_"):
            delattr(transformer, "stop_words_")
        if hasattr(transformer, "vocabulary_"):
            # numpy ints would each become a separate array in the skops file
            transformer.vocabulary_ = {term: int(i) for term, i in transformer.vocabulary_.items()}


def _fit_platt(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    platt = LogisticRegression(C=1e4, solver="lbfgs")
    platt.fit(decision.reshape(-1, 1), y)
    return float(platt.coef_[0][0]), float(platt.intercept_[0])


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    grid = np.round(np.arange(0.10, 0.91, 0.02), 2)
    scores = [f1_score(y, p >= t, zero_division=0) for t in grid]
    return float(grid[int(np.argmax(scores))])


# Settings the trainer chooses between by inner cross-validation on the training rows (small sets only): the
# regularisation C and the character n-gram range. Judged by out-of-fold ROC-AUC, which ranks less noisily than F1
# at a tuned threshold; the threshold is then chosen on the winner's out-of-fold scores.
C_GRID: tuple[float, ...] = (2.0, 3.0, 6.0)
CHAR_RANGES: tuple[tuple[int, int], ...] = ((2, 5), (1, 6))
DEFAULT_C = 3.0
# Weight of the standardised form features (StyleFeatures) against the n-grams, also chosen by inner CV. Cheap to
# search: the block is computed once and rescaled per candidate.
STYLE_WEIGHTS: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
DEFAULT_STYLE_WEIGHT = 0.3


@dataclass
class TrainResult:
    model: WarmLeadModel
    seconds: float
    n_train: int
    n_calibration: int
    selection: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Candidate:
    c: float
    char_range: tuple[int, int]
    style_weight: float
    auc: float
    model: WarmLeadModel
    matrix: sparse.csr_matrix
    cal_y: np.ndarray
    cal_decision: np.ndarray


def _out_of_fold(classifier: Any, matrix: sparse.csr_matrix, y: np.ndarray, seed: int) -> np.ndarray:
    decision = np.zeros(len(y))
    for fit_idx, cal_idx in StratifiedKFold(3, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        fold = clone(classifier).fit(matrix[fit_idx], y[fit_idx])
        decision[cal_idx] = fold.decision_function(matrix[cal_idx])
    return decision


def train(
    df: pd.DataFrame,
    labels: Sequence[int] | np.ndarray,
    *,
    version: str,
    infer_competitors: bool = False,
    calibration_fraction: float = 0.15,
    seed: int = 20261123,
    c: float | None = None,
    style_weight: float | None = None,
    oof_max_rows: int = 20_000,
) -> TrainResult:
    """Fit on the training rows only: pick C, the char n-gram range and the weight of the form features by 3-fold
    cross-validation (sets up to `oof_max_rows`; `c` fixes C and the char range, `style_weight` the weight), calibrate (Platt) and choose the F1 threshold on the
    out-of-fold scores, then refit on every row. Larger sets calibrate on a held-out slice with the defaults."""
    started = time.perf_counter()
    y = np.asarray(labels, dtype=int)
    if len(set(y.tolist())) < 2:
        raise ValueError("training data needs both labels (0 and 1)")
    texts = df[TEXT].fillna("").astype(str).tolist()
    brands = infer_brand_handles(texts) if infer_competitors else frozenset()
    large = len(y) > LARGE_ROWS
    out_of_fold = len(y) <= oof_max_rows and min(np.bincount(y)) >= 3
    c_grid = (c,) if c is not None else C_GRID if out_of_fold else (DEFAULT_C,)
    char_ranges = CHAR_RANGES if out_of_fold and c is None and not large else CHAR_RANGES[:1]
    style_weights = (
        (style_weight,) if style_weight is not None else STYLE_WEIGHTS if out_of_fold else (DEFAULT_STYLE_WEIGHT,)
    )
    best: _Candidate | None = None
    tried: list[dict[str, Any]] = []
    for char_range in char_ranges:
        model = WarmLeadModel(
            build_pipeline(c=c_grid[0], large=large, char_range=char_range, style_weight=1.0),
            brand_handles=brands,
            version=version,
        )
        # Text features are computed once per n-gram setting (the analysers are most of the cost); vocabulary and
        # idf are unsupervised, so the folds reuse the one matrix and only the classifier is refitted per fold.
        columns: ColumnTransformer = model.pipeline.named_steps["features"]
        unit = sparse.csr_matrix(columns.fit_transform(model.prepare(df), y))
        style_columns = columns.output_indices_["style"]
        for weight, value in itertools.product(style_weights, c_grid):
            column_scale = np.ones(unit.shape[1])
            column_scale[style_columns] = weight
            matrix = sparse.csr_matrix(unit @ sparse.diags(column_scale))
            classifier = model._classifier() if large else clone(model._classifier()).set_params(C=value)
            if out_of_fold:
                cal_y, cal_decision = y, _out_of_fold(classifier, matrix, y, seed)
            else:
                stratify = y if min(np.bincount(y)) >= 2 else None
                fit_idx, cal_idx = train_test_split(
                    np.arange(len(y)), test_size=calibration_fraction, random_state=seed, stratify=stratify
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    fold = clone(classifier).fit(matrix[fit_idx], y[fit_idx])
                cal_y, cal_decision = y[cal_idx], fold.decision_function(matrix[cal_idx])
            both = len(set(cal_y.tolist())) == 2
            auc = float(roc_auc_score(cal_y, cal_decision)) if both else 0.0
            tried.append(
                {
                    "C": value,
                    "char_ngram_range": list(char_range),
                    "style_weight": weight,
                    "inner_cv_roc_auc": round(auc, 4),
                }
            )
            if best is None or auc > best.auc + 1e-9:
                best = _Candidate(value, char_range, weight, auc, model, matrix, cal_y, cal_decision)
    assert best is not None
    model = best.model
    if not large:
        model.pipeline.set_params(classifier__C=best.c)
    # The fitted transformer (not the template in `transformers`) is the one transform() uses.
    model.pipeline.named_steps["features"].named_transformers_["style"].weight = best.style_weight
    model.pipeline.set_params(features__style__weight=best.style_weight)
    if len(set(best.cal_y.tolist())) == 2:
        model.platt_a, model.platt_b = _fit_platt(best.cal_decision, best.cal_y)
        model.threshold = best_threshold(best.cal_y, model._calibrate(best.cal_decision))
    with warnings.catch_warnings():
        # SGD stops at max_iter on large sets on purpose (time budget); the fit is good well before convergence.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model._classifier().fit(best.matrix, y)  # the final classifier learns from every row
    _drop_stop_words(model.pipeline)
    selection = {
        "method": "3-fold out-of-fold on the training rows" if out_of_fold else "held-out slice of the training rows",
        "criterion": "roc_auc",
        "C": best.c if not large else None,
        "char_ngram_range": list(best.char_range) if not large else None,
        "style_weight": best.style_weight,
        "threshold": model.threshold,
        "candidates": tried,
    }
    return TrainResult(model, time.perf_counter() - started, len(y), len(best.cal_y), selection)

"""Save and load model artifacts safely: skops with an explicit list of trusted types, sha256 and a meta.json.

Never unpickles: skops refuses any type outside TRUSTED, and the file hash must match the one recorded.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sklearn
import skops.io as sio

from crm.errors import WarmlineError
from scoring.warm_lead import WarmLeadModel

MODEL_FILE = "model.skops"
META_FILE = "meta.json"

# Every non-default type the warm-lead pipeline holds; anything else in a file is refused.
TRUSTED: tuple[str, ...] = (
    "scoring.features.AuthorFeatures",
    "scoring.features.CueFeatures",
    "scoring.features.StyleFeatures",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.pipeline.Pipeline",
    "builtins.slice",
    "numpy.float64",
    "numpy.int64",
    "numpy.dtype",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csr.csr_array",
    "sklearn.utils._bunch.Bunch",
    "collections.OrderedDict",
    "collections.defaultdict",
)


class ModelLoadError(WarmlineError):
    status = 500
    slug = "model-load-failed"
    title = "Model could not be loaded"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Saved:
    directory: Path
    sha256: str
    meta: dict[str, Any]


def save(model: WarmLeadModel, directory: Path, meta: dict[str, Any]) -> Saved:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    sio.dump(model.pipeline, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED)
    if untrusted:
        path.unlink()
        raise ModelLoadError(f"the pipeline holds types outside the trusted list: {', '.join(sorted(untrusted))}")
    digest = sha256_file(path)
    full = {
        **meta,
        "version": model.version,
        "sklearn_version": sklearn.__version__,
        "sha256": digest,
        "platt": [model.platt_a, model.platt_b],
        "threshold": model.threshold,
        "brand_handles": sorted(model.brand_handles),
    }
    (directory / META_FILE).write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return Saved(directory, digest, full)


def read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.exists():
        raise ModelLoadError(f"{directory}: no {META_FILE}; not a Warmline model folder")
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelLoadError(f"{path}: unreadable: {exc}") from None
    return meta


def load(directory: Path, *, expected_sha256: str | None = None) -> WarmLeadModel:
    """Load a model folder; refuses a hash mismatch, another scikit-learn version, or untrusted types."""
    directory = Path(directory)
    meta = read_meta(directory)
    path = directory / MODEL_FILE
    if not path.exists():
        raise ModelLoadError(f"{directory}: no {MODEL_FILE}")
    digest = sha256_file(path)
    want = expected_sha256 or meta.get("sha256")
    if want and digest != want:
        raise ModelLoadError(f"{path}: sha256 {digest[:12]}... does not match the registry's {str(want)[:12]}...")
    if meta.get("sklearn_version") != sklearn.__version__:
        raise ModelLoadError(
            f"{directory}: trained with scikit-learn {meta.get('sklearn_version')}, this process has "
            f"{sklearn.__version__}; retrain it (`crm scoring train`) or install the matching version"
        )
    untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED)
    if untrusted:
        raise ModelLoadError(f"{path}: refuses to load untrusted types: {', '.join(sorted(untrusted))}")
    try:
        pipeline = sio.load(path, trusted=list(TRUSTED))
    except Exception as exc:  # skops raises a mix of types on a damaged file
        raise ModelLoadError(f"{path}: cannot load: {exc}") from None
    a, b = meta.get("platt", [1.0, 0.0])
    return WarmLeadModel(
        pipeline,
        platt_a=float(a),
        platt_b=float(b),
        threshold=float(meta.get("threshold", 0.5)),
        brand_handles=frozenset(meta.get("brand_handles", [])),
        version=str(meta.get("version", "unversioned")),
    )

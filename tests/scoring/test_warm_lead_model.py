import json
import os
from pathlib import Path

import numpy as np
import pytest
import sklearn

from scoring import artifacts
from scoring.artifacts import ModelLoadError
from scoring.evaluate import metrics
from scoring.features import cue_row
from scoring.warm_lead import infer_brand_handles
from tests.scoring.conftest import SAMPLE_ROWS, labelled


def test_a_model_trained_on_a_slice_of_labelled_posts_ranks_a_disjoint_slice_well(trained_dir: Path) -> None:
    model = artifacts.load(trained_dir)
    held_out = labelled(n=SAMPLE_ROWS, seed=3).iloc[700:]  # the fixture trained on the first 700 of this shuffle
    probs = model.predict_proba(held_out[["text"]])
    measured = metrics(held_out["warm"].tolist(), probs, model.threshold)
    # Noisy single-product labels: about 0.79 here, where a model that learned nothing would sit near 0.5.
    assert measured["roc_auc"] > 0.72
    assert 0 <= measured["brier"] < 0.2


def test_the_fast_path_gives_the_same_probabilities_as_the_pipeline(trained_dir: Path) -> None:
    model = artifacts.load(trained_dir)
    rows = [
        {"text": "@FC_Help my order still has not arrived, awful", "followers": 12000, "likes": 3},
        {"text": "lovely weather today", "dm_open": 1},
        {"text": "", "age_hours": 500},
    ]
    assert np.allclose(model.predict_proba(rows), model.predict_proba_fast(rows))


def test_every_score_comes_with_readable_reasons(trained_dir: Path) -> None:
    model = artifacts.load(trained_dir)
    [prediction] = model.score_records(
        [
            {
                "text": "Can anyone recommend an alternative to Salesforce? Terrible support, I want to cancel",
                "competitor_mentioned": 1,
                "competitors": ["Salesforce"],
                "followers": 12000,
                "dm_open": 1,
            }
        ]
    )
    assert 0 <= prediction.score <= 100 and prediction.model_version == "wl-test-1"
    assert prediction.reasons and all(isinstance(r, str) and "__" not in r for r in prediction.reasons)
    assert any("Salesforce" in r or "complaint" in r or "alternative" in r for r in prediction.reasons)


def test_intent_cues_spot_alternatives_recommendations_and_price_questions() -> None:
    row = cue_row("Any alternative to HubSpot? Can you recommend one, pricing is too expensive?")
    assert row[:5] == [1.0, 1.0, 0.0, 1.0, 0.0]


def test_brand_handles_are_the_ones_addressed_repeatedly() -> None:
    assert infer_brand_handles(["@acme hi", "@acme x", "@ACME y", "@bob z"]) == frozenset({"acme"})


def test_a_tampered_artifact_is_refused(model_copy: Path) -> None:
    with (model_copy / artifacts.MODEL_FILE).open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelLoadError, match="sha256"):
        artifacts.load(model_copy)


def test_a_model_from_another_scikit_learn_version_is_refused_with_a_clear_error(model_copy: Path) -> None:
    meta_path = model_copy / artifacts.META_FILE
    meta = json.loads(meta_path.read_text())
    meta["sklearn_version"] = "0.24.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=f"scikit-learn 0.24.2, this process has {sklearn.__version__}"):
        artifacts.load(model_copy)


def test_an_artifact_holding_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / artifacts.MODEL_FILE
    sio.dump(FunctionTransformer(os.system), path)
    (tmp_path / artifacts.META_FILE).write_text(
        json.dumps({"sha256": artifacts.sha256_file(path), "sklearn_version": sklearn.__version__})
    )
    with pytest.raises(ModelLoadError, match="untrusted"):
        artifacts.load(tmp_path)


def test_the_shipped_default_model_loads_safely_and_has_a_card() -> None:
    from scoring.commands import DEFAULT_MODEL_DIR

    model = artifacts.load(DEFAULT_MODEL_DIR)
    assert model.version == "wl-default-purchase-intent-1"
    card = (DEFAULT_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert "MIT" in card and "not active by default" in card
    [prediction] = model.score_records([{"text": "I really want to buy the new iPhone X"}])
    assert 0 <= prediction.score <= 100


def test_batch_reasons_match_one_row_reasons_even_for_empty_posts(trained_dir: Path) -> None:
    model = artifacts.load(trained_dir)
    rows = [
        {"text": "", "age_hours": 10_000},
        {"text": "I really want to buy the new iPhone X, where can I get one?", "followers": 5000},
        {"text": "thanks!"},
    ]
    batch = model.score_records(rows)
    assert [p.reasons for p in batch] == [model.score_records([r])[0].reasons for r in rows]
    assert batch[1].score > batch[2].score


def test_training_chooses_c_ngrams_form_weight_and_threshold_by_cross_validation_on_its_rows_and_records_them(
    trained_dir: Path,
) -> None:
    from scoring.warm_lead import C_GRID, CHAR_RANGES, STYLE_WEIGHTS

    meta = json.loads((trained_dir / artifacts.META_FILE).read_text())
    selection = meta["selection"]
    assert selection["method"].startswith("3-fold out-of-fold on the training rows")
    assert selection["C"] in C_GRID and tuple(selection["char_ngram_range"]) in CHAR_RANGES
    assert selection["style_weight"] in STYLE_WEIGHTS
    assert len(selection["candidates"]) == len(C_GRID) * len(CHAR_RANGES) * len(STYLE_WEIGHTS)
    setting = ("C", "char_ngram_range", "style_weight")
    [chosen] = [c for c in selection["candidates"] if all(c[k] == selection[k] for k in setting)]
    assert chosen["inner_cv_roc_auc"] == max(c["inner_cv_roc_auc"] for c in selection["candidates"])
    # The chosen threshold is the model's and the one its held-out metrics were measured at.
    assert meta["threshold"] == selection["threshold"] == meta["metrics"]["threshold"]
    model = artifacts.load(trained_dir)
    assert model.threshold == meta["threshold"]
    assert selection["C"] == model.pipeline.named_steps["classifier"].C
    fitted_style = model.pipeline.named_steps["features"].named_transformers_["style"]
    assert fitted_style.weight == selection["style_weight"]


def test_a_fixed_c_and_form_weight_skip_the_search(tmp_path: Path) -> None:
    from scoring.warm_lead import train

    df = labelled(n=300, seed=11)
    result = train(df[["text"]], df["warm"].to_numpy(), version="fixed", c=1.5, style_weight=0.2)
    assert [(c["C"], c["style_weight"]) for c in result.selection["candidates"]] == [(1.5, 0.2)]
    assert result.model.pipeline.named_steps["classifier"].C == 1.5
    assert result.model.pipeline.named_steps["features"].named_transformers_["style"].weight == 0.2


def test_form_features_read_the_addressee_emphasis_links_and_waiting_of_a_post() -> None:
    from scoring.features import STYLE_NAMES, style_row

    complaint = dict(
        zip(STYLE_NAMES, style_row("@AdobeCare I have been waiting 4 hours!! Still NOT fixed?"), strict=True)
    )
    chatter = dict(zip(STYLE_NAMES, style_row("great game tonight lol https://t.co/abc …"), strict=True))
    for feature in ("starts_with_handle", "care_handle", "emphasis", "waiting", "first_person", "negations", "digits"):
        assert complaint[feature] > chatter[feature], feature
    for feature in ("url", "truncated", "polite"):
        assert chatter[feature] > complaint[feature], feature

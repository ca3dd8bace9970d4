"""`crm scoring ...`: train, evaluate, report, register/promote/rollback models, install the shipped default, and
measure influencer authenticity on the labelled account sets. Expected failures are one line and exit 1."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from crm.access import audit
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.ops.cli_errors import UserError, friendly, load_settings
from crm.ops.preflight import check_database
from crm.ops.progress import task
from scoring.baseline import VERSION as BASELINE_VERSION

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"


friendly_scoring = friendly(also=(ValueError, KeyError))
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")


def _with_session(work: Callable[[Any, Any], Awaitable[T]]) -> T:
    settings = load_settings()

    async def run() -> T:
        engine = make_engine(settings)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                return await work(session, settings)
        finally:
            await engine.dispose()

    return asyncio.run(run())


data_option = click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Labelled CSV or JSONL (repeatable).",
)
text_option = click.option("--text-column", default="text", show_default=True)
label_option = click.option("--label-column", default="label", show_default=True)
positive_option = click.option(
    "--positive-label",
    "positive",
    default=None,
    help="For multi-class label columns: the value that means warm (others: 0).",
)


@click.group()
def scoring() -> None:
    """Warm-lead and influencer models: train, evaluate, report, promote, roll back."""


@scoring.command("train")
@data_option
@text_option
@label_option
@positive_option
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for model.skops + meta.json.")
@click.option("--test-size", default=0.2, show_default=True, type=click.FloatRange(0.05, 0.5))
@click.option(
    "--infer-competitors/--no-infer-competitors",
    default=False,
    help="Treat handles addressed >= 3 times in the training rows as watched brands (when there is no "
    "competitor_mentioned column).",
)
@click.option("--version", "version", default=None, help="Version name (default: wl-<timestamp>).")
@json_option
@friendly_scoring
def train_command(
    data: tuple[Path, ...],
    text_column: str,
    label_column: str,
    positive: str | None,
    out: Path,
    test_size: float,
    infer_competitors: bool,
    version: str | None,
    as_json: bool,
) -> None:
    """Train the warm-lead model and print metrics on a held-out split.

    --json prints one object: version, n_train, seconds, out and the held-out metrics."""
    # scikit-learn and pandas (seconds): only for the commands that train, not for `crm --help`.
    from scoring.dataset import load_labelled
    from scoring.lifecycle import train_and_save

    with task("reading the labelled data"):
        df, labels = load_labelled(list(data), text_column=text_column, label_column=label_column, positive=positive)
    # Cross-validated model selection has no natural step count: a spinner with the elapsed time says it is alive.
    with task(f"training on {len(labels)} rows (cross-validating the settings)"):
        trained = train_and_save(
            df,
            labels,
            out,
            version=version,
            test_size=test_size,
            infer_competitors=infer_competitors,
            sources=[str(p) for p in data],
        )
    if as_json:
        meta = trained.saved.meta
        summary = {"version": meta["version"], "n_train": meta["n_train"], "seconds": round(trained.seconds, 2)}
        click.echo(json.dumps({**summary, "out": str(out), "metrics": trained.metrics}, default=str))
        return
    click.echo(
        f"trained {trained.saved.meta['version']} on {trained.saved.meta['n_train']} rows in {trained.seconds:.1f} s -> {out}"
    )
    click.echo(json.dumps(trained.metrics))


def _evaluate(
    model_dir: Path, data: tuple[Path, ...], text_column: str, label_column: str
) -> tuple[Any, Any, dict[str, Any]]:
    # scikit-learn and pandas (seconds): only for the commands that evaluate.
    from scoring import artifacts
    from scoring.dataset import load_labelled
    from scoring.evaluate import metrics

    with task("loading the model and the data"):
        model = artifacts.load(model_dir)
        df, labels = load_labelled(list(data), text_column=text_column, label_column=label_column)
    with task(f"scoring {len(labels)} rows"):
        probs = model.predict_proba(df)
    return labels, probs, {"model": model.version, **metrics(labels, probs, model.threshold)}


@scoring.command("evaluate")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path))
@data_option
@text_option
@label_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@friendly_scoring
def evaluate_command(
    model_dir: Path, data: tuple[Path, ...], text_column: str, label_column: str, as_json: bool
) -> None:
    """Score labelled data with a saved model: n, ROC-AUC, average precision, F1 at its threshold, Brier."""
    _, _, measured = _evaluate(model_dir, data, text_column, label_column)
    if as_json:
        click.echo(json.dumps(measured))
    else:
        for key, value in measured.items():
            click.echo(f"{key:18} {value}")


@scoring.command("report")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path))
@data_option
@text_option
@label_option
@click.option("--out", required=True, type=click.Path(path_type=Path))
@json_option
@friendly_scoring
def report_command(
    model_dir: Path, data: tuple[Path, ...], text_column: str, label_column: str, out: Path, as_json: bool
) -> None:
    """Write calibration, ROC, PR and histogram PNGs and report.md for a model on labelled data.

    Prints one written path per line; --json prints {metrics, files}."""
    from scoring.report import write_report  # matplotlib and scikit-learn (seconds): only for `crm scoring report`

    labels, probs, measured = _evaluate(model_dir, data, text_column, label_column)
    with task("drawing the report"):
        written = write_report(out, labels, probs, measured, title=f"Warm-lead model {measured['model']}")
    if as_json:
        click.echo(json.dumps({"metrics": measured, "files": [str(p) for p in written]}, default=str))
        return
    for path in written:
        click.echo(str(path))


@scoring.command("list")
@json_option
@friendly_scoring
def list_command(as_json: bool) -> None:
    """Every registered warm-lead model version with its status and metrics (--json: a list, [] when none)."""
    from scoring import registry  # the registry loads artifacts, so scikit-learn (seconds): only when asked

    async def work(session: Any, settings: Any) -> list[dict[str, Any]]:
        return [registry.describe(r) for r in await registry.versions(session)]

    rows = _with_session(work)
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    if not rows:
        click.echo("no models registered; scoring uses the baseline (baseline-rules-1)")
    for row in rows:
        m = row["metrics"]
        click.echo(
            f"{row['version']:36} {row['status']:9} roc_auc={m.get('roc_auc')} f1={m.get('f1')} n_train={row['n_train']}"
        )


async def _rescore(session: Any) -> int:
    # scikit-learn (seconds), which the commands that rescore have loaded already.
    from scoring.registry import ModelCache
    from scoring.service import open_lead_ids, score_lead

    cache = ModelCache()
    done = 0
    for lead_id in await open_lead_ids(session):
        if await score_lead(session, lead_id, cache) is not None:
            done += 1
    return done


@scoring.command("register")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--promote", "do_promote", is_flag=True, help="Make it the active model and rescore open leads.")
@friendly_scoring
def register_command(model_dir: Path, do_promote: bool) -> None:
    """Copy a trained model folder into the registry (CRM_MODEL_DIR) as a candidate."""
    from scoring import artifacts, registry  # scikit-learn (seconds): only for the commands that handle models

    meta = artifacts.read_meta(model_dir)
    artifacts.load(model_dir)  # refuse a damaged or foreign artifact before recording it

    async def work(session: Any, settings: Any) -> str:
        target = settings.resolved_model_dir / "warm_lead" / str(meta["version"])
        if target.exists():
            raise UserError(f"version {meta['version']} is already in the registry at {target}")
        shutil.copytree(model_dir, target)
        saved = artifacts.Saved(target, artifacts.sha256_file(target / artifacts.MODEL_FILE), meta)
        row = await registry.register(session, saved)
        message = f"registered {row.version} as candidate"
        if do_promote:
            await registry.promote(session, row.version)
            message += f"; promoted; rescored {await _rescore(session)} open leads"
        return message

    click.echo(_with_session(work))


@scoring.command("install-default")
@click.option("--promote", "do_promote", is_flag=True, help="Also make it the active model.")
@friendly_scoring
def install_default(do_promote: bool) -> None:
    """Register the model shipped in the package (see scoring/default_model/MODEL_CARD.md)."""
    if not (DEFAULT_MODEL_DIR / "meta.json").exists():
        raise UserError("this installation ships no default model; train one with `crm scoring train`")
    register_command.callback(DEFAULT_MODEL_DIR, do_promote)  # type: ignore[misc]


@scoring.command("promote")
@click.argument("version")
@click.option("--rescore/--no-rescore", default=True, show_default=True, help="Rescore open leads with it.")
@friendly_scoring
def promote_command(version: str, rescore: bool) -> None:
    """Make VERSION the active warm-lead model (the previous one is retired)."""
    from scoring import registry  # scikit-learn (seconds): only for the commands that handle models

    async def work(session: Any, settings: Any) -> str:
        previous = await registry.active(session)
        row = await registry.promote(session, version)
        audit.record(
            session,
            "model.promote",
            actor="cli",
            object_type="model_version",
            object_id=row.id,
            detail={"name": row.name, "version": row.version, "previous": previous.version if previous else None},
        )
        done = await _rescore(session) if rescore else 0
        return f"{row.version} is active" + (f"; rescored {done} open leads" if rescore else "")

    click.echo(_with_session(work))


@scoring.command("rollback")
@click.option("--rescore/--no-rescore", default=True, show_default=True)
@friendly_scoring
def rollback_command(rescore: bool) -> None:
    """Retire the active model and re-activate the previously active one (or fall back to the baseline)."""
    from scoring import registry  # scikit-learn (seconds): only for the commands that handle models

    async def work(session: Any, settings: Any) -> str:
        current = await registry.active(session)
        previous = await registry.rollback(session)
        if current is not None:
            audit.record(
                session,
                "model.rollback",
                actor="cli",
                object_type="model_version",
                object_id=current.id,
                detail={
                    "name": current.name,
                    "version": current.version,
                    "reactivated": previous.version if previous else None,
                },
            )
        done = await _rescore(session) if rescore else 0
        name = previous.version if previous else "the baseline (baseline-rules-1)"
        return f"rolled back to {name}" + (f"; rescored {done} open leads" if rescore else "")

    click.echo(_with_session(work))


@scoring.command("rescore")
@click.option("--unscored", is_flag=True, help="Only leads that have no score yet (a lost or never-queued job).")
@json_option
@friendly_scoring
def rescore_command(unscored: bool, as_json: bool) -> None:
    """Score open leads now, in this process, with the active model (or the baseline); repairs a database whose
    leads were never scored. --json prints {scored, which, model}."""
    # scikit-learn (seconds): only for the commands that score.
    from scoring.registry import ModelCache
    from scoring.service import SCORE_BATCH, active_model, open_lead_ids, score_leads, unscored_lead_ids

    settings = load_settings()

    async def run() -> tuple[int, str | None]:
        await check_database(settings)
        engine = make_engine(settings)
        try:
            sessionmaker = make_sessionmaker(engine)
            async with session_scope(sessionmaker) as session:
                ids = await (unscored_lead_ids(session) if unscored else open_lead_ids(session))
                model = await active_model(session)
            cache, done = ModelCache(), 0
            with task(f"scoring {len(ids)} leads", total=len(ids)) as tracker:
                # One batch per call (each commits), so the bar moves as the batches land.
                for start in range(0, len(ids), SCORE_BATCH):
                    chunk = ids[start : start + SCORE_BATCH]
                    done += await score_leads(sessionmaker, chunk, cache, with_authors=unscored)
                    tracker.advance(len(chunk))
            return done, model.version if model is not None else None
        finally:
            await engine.dispose()

    done, scorer = asyncio.run(run())
    which = "unscored" if unscored else "open"
    if as_json:
        click.echo(json.dumps({"scored": done, "which": which, "model": scorer or BASELINE_VERSION}))
        return
    scorer = scorer or f"the baseline ({BASELINE_VERSION})"
    click.echo(f"scored {done} {which} lead{'s' if done != 1 else ''} with {scorer}")


@scoring.command("authenticity")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Folder holding the shared data sets.")
@click.option("--json", "as_json", is_flag=True)
@friendly_scoring
def authenticity_command(data_dir: Path | None, as_json: bool) -> None:
    """ROC-AUC of the influencer authenticity check on the labelled bot (Gilani 2017) and fake (InstaFake) sets."""
    from scoring.influencer_eval import evaluate_authenticity  # scikit-learn (seconds): only for this evaluation

    result = evaluate_authenticity(data_dir)
    click.echo(json.dumps(result) if as_json else "\n".join(f"{k:28} {v}" for k, v in result.items()))

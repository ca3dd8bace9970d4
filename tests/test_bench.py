from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench.data import DATA_ENV, MissingData, require


def test_a_benchmark_without_its_research_data_is_skipped_naming_the_path_and_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    written: list[dict[str, str]] = []
    monkeypatch.setattr(bench_main, "write_report", lambda path, sections: written.append(sections))
    assert bench_main.main(["bench_scoring_quality"]) == 0
    out = capsys.readouterr().out
    missing = tmp_path / "complaints_twitter" / "complaints_dev.csv"
    assert f"skipped bench_scoring_quality: {missing} not found" in out
    assert "github.com/danielpreotiuc/complaints-social-media" in out and DATA_ENV in out
    assert written == [{}]  # the report keeps its last measured section


def test_the_data_folder_is_returned_once_every_named_file_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    (tmp_path / "airline_sentiment").mkdir()
    (tmp_path / "airline_sentiment" / "Tweets.csv").write_text("text\n")
    assert require("airline_sentiment/Tweets.csv") == tmp_path
    with pytest.raises(MissingData, match=r"tweeteval_sentiment/sentiment_val_test\.csv not found"):
        require("airline_sentiment/Tweets.csv", "tweeteval_sentiment/sentiment_val_test.csv")

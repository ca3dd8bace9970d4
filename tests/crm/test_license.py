"""The project ships the license its package metadata declares, in full."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_file_is_the_full_text_of_the_license_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    # The full text, not a notice: all nine sections and the appendix on how to apply it.
    for section in ("1. Definitions.", "4. Redistribution.", "9. Accepting Warranty or Additional Liability."):
        assert section in text
    assert "APPENDIX: How to apply the Apache License to your work." in text and len(text) > 11_000


def test_the_vendored_docs_viewer_keeps_its_license_and_notice() -> None:
    viewer = ROOT / "crm" / "static" / "swagger-ui"
    assert "Apache License" in (viewer / "LICENSE").read_text(encoding="utf-8")
    assert "SmartBear" in (viewer / "NOTICE").read_text(encoding="utf-8")

"""House rules on the code's shape: no product module over 600 lines, no import inside a function without a comment
saying why, and crm/ keeps its top level small (the rest lives in its second level by noun)."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crm", "listeners", "scoring", "outreach")
MAX_LINES = 600
MAX_CRM_TOP_LEVEL = 15


def product_modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:  # generated or frozen: exempt
                found.append(path)
    return found


def comment_lines(source: str) -> set[int]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {token.start[0] for token in tokens if token.type == tokenize.COMMENT}


def function_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            found += [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def explained(node: ast.Import | ast.ImportFrom, lines: list[str], comments: set[int], imports: set[int]) -> bool:
    """A comment on the import's own lines, or above it: one comment may head a run of imports (blank lines and
    other imports between them)."""
    end = node.end_lineno or node.lineno
    if any(line in comments for line in range(node.lineno, end + 1)):
        return True
    above = node.lineno - 1
    while above > 0 and (above in imports or not lines[above - 1].strip()):
        above -= 1
    return above in comments and lines[above - 1].lstrip().startswith("#")


def unexplained_imports(path: Path, root: Path = ROOT) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    nodes = function_imports(ast.parse(source))
    comments = comment_lines(source)
    imports = {line for n in nodes for line in range(n.lineno, (n.end_lineno or n.lineno) + 1)}
    return [
        f"{path.relative_to(root)}:{n.lineno}: {lines[n.lineno - 1].strip()}"
        for n in nodes
        if not explained(n, lines, comments, imports)
    ]


def test_no_product_module_is_over_600_lines() -> None:
    long = {}
    for path in product_modules():
        with path.open(encoding="utf-8") as opened:
            count = sum(1 for _ in opened)
        if count > MAX_LINES:
            long[str(path.relative_to(ROOT))] = count
    assert long == {}, f"split these modules (at most {MAX_LINES} lines each): {long}"


def test_every_import_inside_a_function_says_why() -> None:
    bare = [found for path in product_modules() for found in unexplained_imports(path)]
    assert bare == [], "move these imports to the top, or say on the line (or above) why they wait:\n" + "\n".join(bare)


def test_crm_keeps_at_most_15_top_level_modules() -> None:
    top = sorted(p.name for p in (ROOT / "crm").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_CRM_TOP_LEVEL, f"crm/ has {len(top)} top-level modules; give some a folder: {top}"


def test_the_import_check_tells_a_bare_import_from_an_explained_one(tmp_path: Path) -> None:
    # The rule's own check, on a file made to break it: otherwise a check that finds nothing would look like a pass.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def bare():\n"
        "    import json\n"
        "\n"
        "def same_line():\n"
        "    import json  # why\n"
        "\n"
        "def heads_a_run():\n"
        "    # why, for both\n"
        "    import json\n"
        "\n"
        "    from pathlib import Path\n"
        "\n"
        "def after_code():\n"
        "    # a comment about something else\n"
        "    x = 1\n"
        "    import json\n",
        encoding="utf-8",
    )
    found = unexplained_imports(sample, root=tmp_path)
    assert found == ["sample.py:2: import json", "sample.py:16: import json"]

"""The documentation site: it builds without a warning, its code blocks run, and the HTTP
reference it is generated from describes every operation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.doc_blocks import RUNNABLE, blocks, check_static, run_page

from vigil.errors import VigilError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))


def _page_id(path: Path) -> str:
    return str(path.relative_to(DOCS))


@pytest.mark.slow
def test_mkdocs_build_is_strict_and_clean(tmp_path):
    """`mkdocs build --strict` fails on any warning: a broken link, a missing page, a
    docstring mkdocstrings cannot read, a marker the generator does not know."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert "WARNING" not in log, log[-6000:]
    # The generated references hold what the code has, not a marker left unexpanded.
    cli = (tmp_path / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "vigil registry promote" in cli and "--dry-run" in cli
    http = (tmp_path / "reference" / "http" / "index.html").read_text(encoding="utf-8")
    assert "/api/v1/models/{name}/predictions" in http
    python = (tmp_path / "reference" / "python" / "index.html").read_text(encoding="utf-8")
    assert "log_prediction" in python
    config = (tmp_path / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "VIGIL_DB_URL" in config and "VIGIL_LOKI_URL" in config
    arch = (tmp_path / "architecture" / "index.html").read_text(encoding="utf-8")
    bench = (tmp_path / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "<!-- vigil:" not in arch + bench + cli + http + config
    assert (ROOT / "bench" / "README.md").read_text(encoding="utf-8").splitlines()[0].lstrip(
        "# "
    ) in bench


def test_every_page_is_in_the_nav():
    """Each page under docs/ is reachable from the navigation, and the nav names no page
    that does not exist (the strict build checks that too)."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)

    in_nav = set(walk(config["nav"]))
    assert {_page_id(p) for p in PAGES} == in_nav


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_block_runs_parses_or_says_why_not(page):
    """Each block is runnable, parses as configuration, or carries a not-run reason."""
    for block in blocks(page.read_text(encoding="utf-8")):
        check_static(_page_id(page), block)


RUN_PAGES = [p for p in PAGES if any(b.runs for b in blocks(p.read_text(encoding="utf-8")))]


@pytest.mark.integration
@pytest.mark.parametrize("page", RUN_PAGES, ids=_page_id)
def test_page_code_runs_as_written(page, tmp_path):
    """The page's python and bash blocks, in order, in one folder, against a real server
    when they talk to one."""
    run_page(page, tmp_path, root=ROOT)


def test_the_docs_runner_catches_a_failing_block(tmp_path):
    """The runner is not a rubber stamp: a failing block or an unmarked text block fails."""
    page = tmp_path / "bad.md"
    page.write_text(
        'Intro\n\n```python\nx = 1\n```\n\n```bash\ntest "$X" = 2\n```\n', encoding="utf-8"
    )
    with pytest.raises(AssertionError, match=r"bad.md:7: bash exited 1"):
        run_page(page, tmp_path / "run", root=ROOT)
    (tmp_path / "shared.md").write_text(
        "```python\nvalue = 41\n```\n\n<!-- file: v.txt -->\n```text\nhello\n```\n\n"
        "```python\nassert value + 1 == 42\nassert open('v.txt').read() == 'hello\\n'\n```\n",
        encoding="utf-8",
    )
    run_page(tmp_path / "shared.md", tmp_path / "run2", root=ROOT)
    text_block = blocks("```text\nsome output\n```\n")[0]
    with pytest.raises(AssertionError, match="must be runnable"):
        check_static("x.md", text_block)
    bad_rule = blocks('```toml\n[[rules]]\nname = "r"\nmetric = "no_such_metric"\n```\n')[0]
    with pytest.raises(VigilError):
        check_static("x.md", bad_rule)
    with pytest.raises(ValueError, match="needs a reason"):
        blocks("<!-- not-run: -->\n```bash\nfalse\n```\n")
    assert RUNNABLE == ("python", "bash")


def test_every_http_operation_is_described(tmp_path):
    """Every operation of the OpenAPI document has a summary and a description (route
    docstrings), and every request model says what it is."""
    from vigil.config import Settings
    from vigil.server.app import create_app
    from vigil.store.store import open_store

    settings = Settings(home=str(tmp_path), db_url=f"sqlite:///{tmp_path}/v.db")
    store = open_store(settings.db_url)
    try:
        spec = create_app(settings, store).openapi()
    finally:
        store.close()
    missing = [
        f"{method.upper()} {path}: {field}"
        for path, operations in spec["paths"].items()
        for method, op in operations.items()
        for field in ("summary", "description")
        if not op.get(field, "").strip()
    ]
    assert missing == []
    ours = {
        name: s
        for name, s in spec["components"]["schemas"].items()
        if name not in ("HTTPValidationError", "ValidationError")
    }
    assert [name for name, s in ours.items() if not s.get("description")] == []
    assert len(spec["paths"]) > 50


def test_http_reference_names_each_routes_scopes():
    """The generator reads each route's scopes from its ``require`` dependency; checked
    against routes whose scopes tests/server/test_auth.py pins too."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vigil_docs", DOCS / "hooks" / "vigil_docs.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    document, scopes = hook.openapi_document()
    assert scopes[("POST", "/api/v1/keys")] == ("admin",)
    assert scopes[("POST", "/api/v1/models")] == ("ingest", "write")
    assert scopes[("GET", "/api/v1/models/{name}")] == ("read", "ingest")
    assert scopes[("POST", "/api/v1/rules")] == ("write",)
    assert ("GET", "/healthz") not in scopes
    # every guarded API operation of the document has its scopes found
    api_ops = {
        (m.upper(), p)
        for p, ops in document["paths"].items()
        for m in ops
        if p.startswith("/api/v1/") and p != "/api/v1/exports/{name}"
    }
    assert api_ops - set(scopes) == set()
    page = hook.http_reference()
    assert "### `POST /api/v1/keys`" in page and "Scope: `admin`" in page


def _github_slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def test_readme_contents_list_every_section():
    """README's table of contents names every ## and ### heading, in order, with anchors
    that resolve (headings inside code blocks are not headings)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"^[ ]*```.*?^[ ]*```", "", readme, flags=re.M | re.S)
    headings = re.findall(r"^(##+) (.+)$", prose, re.M)
    contents = readme.split("**Contents**", 1)[1].split("\n\n", 2)[1]
    entries = re.findall(r"^( *)- \[(.+?)\]\(#(.+?)\)$", contents, re.M)
    assert [(len(indent) // 2 + 2, title, slug) for indent, title, slug in entries] == [
        (len(hashes), title, _github_slug(title)) for hashes, title in headings
    ]


def test_readme_configuration_blocks_are_valid():
    """README's TOML (rules as code, settings) parses, and its rules pass the validator of
    `vigil rules apply`, like the docs pages' blocks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    toml_blocks = [b for b in blocks(readme) if b.lang == "toml"]
    assert len(toml_blocks) >= 3
    for block in toml_blocks:
        check_static("README.md", block)


def test_readme_and_contributing_links_resolve():
    """Every relative link of README.md and CONTRIBUTING.md names a file of the repository
    (the README once linked a bench/README.md that did not exist), and every in-page
    anchor names a heading."""
    for name in ("README.md", "CONTRIBUTING.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        prose = re.sub(r"^[ ]*```.*?^[ ]*```", "", text, flags=re.M | re.S)
        slugs = {_github_slug(t) for t in re.findall(r"^#+ (.+)$", prose, re.M)}
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            if path:
                assert (ROOT / path).exists(), f"{name} links {target}, which does not exist"
            else:
                assert anchor in slugs, f"{name} links #{anchor}, which is no heading"

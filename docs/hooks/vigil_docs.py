"""MkDocs hook: pages generated from the code, so the reference cannot drift from it.

A page asks for generated content with an HTML comment on a line of its own:

- ``<!-- vigil:cli -->``: every ``vigil`` command with its usage, arguments and options,
  walked from the Typer app (the same Click objects ``vigil --help`` prints);
- ``<!-- vigil:http -->``: every HTTP operation from ``create_app().openapi()``, grouped by
  tag, with its parameters, request body, answers and the scopes it accepts;
- ``<!-- vigil:settings -->``: every setting (``vigil.config.Settings`` and the
  integrations' ``IntegrationSettings``) with its variable, vigil.toml key and default;
- ``<!-- vigil:include PATH -->``: a file of the repository (``ARCHITECTURE.md``,
  ``bench/README.md``), its relative links rewritten for the page that includes it.
"""

from __future__ import annotations

import posixpath
import re
import tempfile
from pathlib import Path
from typing import Any

_MARKER = re.compile(r"^<!-- vigil:(cli|http|settings|include) ?([^>]*?) ?-->$", re.M)
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_ROOT: Path = Path.cwd()


def on_config(config: Any) -> Any:
    """Remember the repository root (the folder of mkdocs.yml)."""
    global _ROOT
    _ROOT = Path(config.config_file_path).resolve().parent
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each marker of the page by what it asks for."""

    def expand(match: re.Match[str]) -> str:
        kind, arg = match.group(1), match.group(2).strip()
        if kind == "cli":
            return cli_reference()
        if kind == "http":
            return http_reference()
        if kind == "settings":
            return settings_reference()
        return include(arg, page.file.src_uri)

    return _MARKER.sub(expand, markdown)


# -- includes --------------------------------------------------------------------------------
def include(path: str, page_uri: str) -> str:
    """The file at ``path`` (from the repository root) with links fixed for ``page_uri``.

    A link to a page of the docs becomes a link relative to the including page; a link to
    any other file of the repository becomes its path in code (the site does not publish it).
    """
    source = _ROOT / path
    text = source.read_text(encoding="utf-8")
    src_dir = posixpath.dirname(path)
    page_dir = posixpath.dirname(page_uri)

    def fix(match: re.Match[str]) -> str:
        bang, label, target = match.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        file_part, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(src_dir, file_part))
        if repo_path.startswith("docs/"):
            rel = posixpath.relpath(repo_path[len("docs/") :], page_dir or ".")
            return f"{bang}[{label}]({rel}{'#' + anchor if anchor else ''})"
        if label.strip("`") == repo_path:
            return f"`{repo_path}`"
        return f"{label} (`{repo_path}`)"

    return _LINK.sub(fix, text)


# -- the command line ------------------------------------------------------------------------
def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def cli_reference() -> str:
    """Every command of ``vigil``, depth first, as Markdown.

    Typer may ship its own copy of Click, so the walk relies on what every Click command
    has (``context_class``, ``params``, ``list_commands``) rather than on Click's classes.
    """
    from typer.main import get_command

    from vigil.cli.main import app

    root = get_command(app)
    out: list[str] = []

    def walk(cmd: Any, parent: Any, name: str) -> None:
        ctx = cmd.context_class(cmd, info_name=name, parent=parent)
        path = ctx.command_path
        level = min(2 + path.count(" "), 4)
        out.append(f"{'#' * level} `{path}`\n")
        if cmd.help:
            out.append(_strip_typer_markup(cmd.help).strip() + "\n")
        out.append(f"```text\n{cmd.get_usage(ctx)}\n```\n")
        args = [p.get_help_record(ctx) for p in cmd.params if p.param_type_name == "argument"]
        args = [r for r in args if r is not None]
        if args:
            out.append("| argument | meaning |\n|---|---|")
            for metavar, help_text in args:
                out.append(f"| `{_cell(metavar)}` | {_cell(help_text)} |")
            out.append("")
        opts = [p.get_help_record(ctx) for p in cmd.params if p.param_type_name == "option"]
        opts = [r for r in opts if r is not None]
        if opts:
            out.append("| option | meaning |\n|---|---|")
            for flags, help_text in opts:
                out.append(f"| `{_cell(flags)}` | {_cell(help_text)} |")
            out.append("")
        if hasattr(cmd, "list_commands"):
            for sub_name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, sub_name)
                if sub is not None and not sub.hidden:
                    walk(sub, ctx, sub_name)

    walk(root, None, "vigil")
    return "\n".join(out)


def _strip_typer_markup(text: str) -> str:
    """Typer help may carry ``\\b`` paragraph markers; Markdown needs none."""
    return text.replace("\b", "")


# -- the HTTP API ----------------------------------------------------------------------------
def openapi_document() -> tuple[dict[str, Any], dict[tuple[str, str], tuple[str, ...]]]:
    """The server's OpenAPI document, built on a throw-away SQLite store, and the scopes
    each operation accepts (from its ``require(...)`` dependency), keyed by method and path.
    """
    from vigil.config import Settings
    from vigil.server.app import create_app
    from vigil.store.store import open_store

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=home, db_url=f"sqlite:///{home}/docs.db")
        store = open_store(settings.db_url)
        try:
            app = create_app(settings, store)
            return app.openapi(), route_scopes(app)
        finally:
            store.close()


def route_scopes(app: Any) -> dict[tuple[str, str], tuple[str, ...]]:
    """``(METHOD, path) -> scopes`` for every route guarded by ``vigil.server.auth.require``
    (the scopes live in the dependency's closure)."""
    import inspect

    from fastapi.routing import APIRoute

    def scopes_of(dependant: Any) -> tuple[str, ...]:
        for dep in dependant.dependencies:
            call = dep.call
            if getattr(call, "__qualname__", "") == "require.<locals>.dependency":
                return tuple(inspect.getclosurevars(call).nonlocals["any_of"])
            found = scopes_of(dep)
            if found:
                return found
        return ()

    import importlib
    import pkgutil

    import vigil.server.routes as package

    # The app includes each module's router without a prefix, so a router's paths are the
    # app's; a few routes are added to the app itself.
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    for info in pkgutil.iter_modules(package.__path__):
        router = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "router", None)
        routes += [r for r in getattr(router, "routes", []) if isinstance(r, APIRoute)]
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for route in routes:
        scopes = scopes_of(route.dependant)
        for method in route.methods:
            if scopes:
                out[(method, route.path)] = scopes
    return out


def _model_title(name: str) -> str:
    """``vigil__server__routes__privacy__PolicyRequest`` -> ``PolicyRequest (privacy)``:
    FastAPI qualifies a model name that two modules use."""
    parts = name.split("__")
    return name if len(parts) < 2 else f"{parts[-1]} ({parts[-2]})"


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref:
        return f"`{_model_title(ref.rsplit('/', 1)[-1])}`"
    if "anyOf" in schema:
        return " or ".join(_schema_name(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    return f"`{kind}`"


def http_reference() -> str:
    """Every operation of the OpenAPI document, grouped by its first tag, as Markdown."""
    spec, scopes = openapi_document()
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((method.upper(), path, op))
    out: list[str] = []
    for tag in sorted(by_tag):
        out.append(f"## {tag}\n")
        for method, path, op in by_tag[tag]:
            out.append(f"### `{method} {path}`\n")
            out.append(f"**{op.get('summary', '')}**\n")
            out.append(op.get("description", "").strip() + "\n")
            needs = scopes.get((method, path))
            if needs:
                out.append(
                    "Scope: "
                    + " or ".join(f"`{s}`" for s in needs)
                    + " (when the server requires keys).\n"
                )
            params = op.get("parameters", [])
            if params:
                out.append("| parameter | in | type | required | meaning |\n|---|---|---|---|---|")
                for p in params:
                    out.append(
                        f"| `{p['name']}` | {p['in']} | {_schema_name(p.get('schema', {}))} | "
                        f"{'yes' if p.get('required') else 'no'} | "
                        f"{_cell(p.get('description', ''))} |"
                    )
                out.append("")
            body = op.get("requestBody")
            if body:
                kinds = ", ".join(
                    f"`{ctype}` ({_schema_name(c.get('schema', {}))})"
                    for ctype, c in body.get("content", {}).items()
                )
                out.append(f"Request body: {kinds}.\n")
            codes = ", ".join(
                f"{code} {_cell(r.get('description', ''))}"
                for code, r in op.get("responses", {}).items()
            )
            out.append(f"Answers: {codes}.\n")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        out.append("## Request models\n")
        for name in sorted(schemas):
            schema = schemas[name]
            title = _model_title(name)
            out.append(f"### `{title}`\n")
            if schema.get("description"):
                out.append(schema["description"].strip() + "\n")
            props = schema.get("properties", {})
            if props:
                required = set(schema.get("required", []))
                out.append("| field | type | required | meaning |\n|---|---|---|---|")
                for field, prop in props.items():
                    out.append(
                        f"| `{field}` | {_schema_name(prop)} | "
                        f"{'yes' if field in required else 'no'} | "
                        f"{_cell(prop.get('description', ''))} |"
                    )
                out.append("")
    return "\n".join(out)


# -- configuration ---------------------------------------------------------------------------
def _default(field: Any) -> str:
    from enum import Enum

    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(none)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        value = str(value).lower()
    text = str(value)
    return f"`{text}`" if text else "(empty)"


def settings_reference() -> str:
    """Two tables: the server and SDK settings, then the integrations' settings."""
    from vigil.config import Settings
    from vigil.integrations.config import IntegrationSettings

    out = [
        "## Server and SDK\n",
        "In `vigil.toml` these live in the `[settings]` table.\n",
        "| variable | `[settings]` key | default | meaning |\n|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        out.append(
            f"| `VIGIL_{name.upper()}` | `{name}` | {_default(field)} | "
            f"{_cell(field.description or '')} |"
        )
    out += [
        "",
        "## Integrations\n",
        "In `vigil.toml` each lives in the table of its integration, its name without "
        "that prefix: `VIGIL_LOKI_URL` is `url` in `[integrations.loki]`.\n",
        "| variable | vigil.toml | default | meaning |\n|---|---|---|---|",
    ]
    for name, field in IntegrationSettings.model_fields.items():
        table, _, key = name.partition("_")
        out.append(
            f"| `VIGIL_{name.upper()}` | `[integrations.{table}]` `{key}` | "
            f"{_default(field)} | {_cell(field.description or '')} |"
        )
    return "\n".join(out) + "\n"

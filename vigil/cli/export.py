"""``vigil export``: Prometheus alerting rules and Grafana dashboards."""

from __future__ import annotations

from pathlib import Path

import typer

from vigil.cli.common import DbOption, HomeOption, console, read_settings
from vigil.cli.export_dataset import dataset

app = typer.Typer(
    help="Export to other tools: prometheus-rules, grafana; a training set: dataset.",
    no_args_is_help=True,
)
app.command("dataset")(dataset)


@app.command("prometheus-rules")
def prometheus_rules(
    out: Path = typer.Option(..., "-o", "--output", help="Rule file to write (YAML)."),
    config: Path | None = typer.Option(
        None, "--from", help="Read the rules from this TOML instead of the store."
    ),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Write vigil's rules as a Prometheus alerting-rules file.

    Every enabled rule but those following a registry alias; rules on store metrics read
    the `vigil_metric_value` series that a vigil server holding those rules serves.
    """
    from vigil.engine.alerts.rules import Rule
    from vigil.integrations.prometheus_rules import render

    if config is not None:
        from vigil.engine.alerts.apply import parse_config
        from vigil.errors import InvalidParameterError

        try:
            text = config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidParameterError(f"Cannot read {config}: {exc}") from None
        specs = parse_config(text, str(config))["rules"]
    else:
        from vigil.store import open_store
        from vigil.store.alerts.queries import AlertStore

        store = open_store(read_settings(db, home).db_url)
        try:
            specs = AlertStore(store).list_rules()
        finally:
            store.close()
    rules = [Rule.from_dict({k: v for k, v in s.items() if v is not None}) for s in specs]
    text, skipped = render(rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(
        f"Wrote {len(rules) - len(skipped)} alerting rules to {out}"
        + (f"; skipped {len(skipped)} (see the file's header)." if skipped else "."),
        highlight=False,
        soft_wrap=True,
    )
    if config is not None and "vigil_metric_value" in text:
        console.print(
            "Rules on store metrics read vigil_metric_value, which a server serves "
            f"for the rules it holds: store them too (vigil rules apply {config}).",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def grafana(
    out: Path = typer.Option(..., "-o", "--output", help="Folder to write."),
    prometheus_url: str = typer.Option(
        "http://localhost:9090", "--prometheus-url", help="Where Grafana reaches Prometheus."
    ),
    dashboards_path: str | None = typer.Option(
        None,
        "--dashboards-path",
        help="The dashboards folder as Grafana sees it (default: the absolute path written here).",
    ),
) -> None:
    """Write Grafana dashboards and their provisioning files.

    Six dashboards (overview, model, quality, drift, resources, alerts) with model and
    version variables, a Prometheus data source and a file-based dashboard provider.
    """
    from vigil.integrations.grafana import write_grafana

    paths = write_grafana(out, prometheus_url=prometheus_url, dashboards_path=dashboards_path)
    for path in paths:
        console.print(f"Wrote {path}", highlight=False)

"""`aftersales units …`: the product-unit register at a terminal."""

from __future__ import annotations

from pathlib import Path

import typer

units_app = typer.Typer(help="The register of units sold (serial, batch/lot, product, customer, sale date).",
                        no_args_is_help=True)


@units_app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="CSV with a header: serial, batch, product_model, customer_ref, sale_date "
                                     "(required), customer_name, customer_email, customer_phone, language."),
    source: str = typer.Option(None, help="What the rows are recorded as coming from (default: the file name)."),
) -> None:
    """Import the sales records: every row checked, the whole file refused if any row is bad, upsert by serial."""
    from aftersales.recall.units import ImportRefused, import_units
    from aftersales.runtime.db import create_schema

    create_schema()
    shown = {"at": 0}

    def progress(done: int, total: int) -> None:
        # Big files: one line per 10 % (or per chunk on small ones), to stderr so stdout stays the report.
        if total >= 5000 and done < total and done - shown["at"] < total // 10:
            return
        shown["at"] = done
        typer.echo(f"  {done}/{total} rows written", err=True)

    try:
        report = import_units(file, source=source, progress=progress)
    except ImportRefused as exc:
        typer.secho(f"refused {file.name}: {exc}", fg=typer.colors.RED, err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"imported {report.rows} rows from {report.source}: {report.added} new, {report.updated} updated, "
               f"{report.unchanged} unchanged")

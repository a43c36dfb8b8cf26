"""Table writers: CSV (full data), LaTeX (booktabs) and Markdown (pipe tables).

Written by hand rather than through `DataFrame.to_latex`/`to_markdown`, which need jinja2 and
tabulate (neither is a declared dependency) and whose output varies across pandas versions.
Every cell is formatted with the table's fixed format spec, and negative zero is printed as zero,
so the bytes depend on the data alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from durable_sim.analysis.schema import AnalysisInputError
from durable_sim.analysis.tables import Table
from durable_sim.files import write_all_atomic

#: Missing values in LaTeX and Markdown (CSV leaves the field empty).
NA = "--"
#: Float format for CSV: enough digits to round-trip what matters, few enough to be stable.
CSV_FLOAT_FORMAT = "%.10g"
FORMATS: tuple[str, ...] = ("csv", "tex", "md")

_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def format_cell(value: object, spec: str) -> str:
    """`value` formatted with `spec`; missing values become `NA`, -0 becomes 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return NA
    if spec == "s":
        return str(value)
    if spec == "d":
        return format(int(value), "d")  # type: ignore[call-overload]
    number = float(value)  # type: ignore[arg-type]
    text = format(number + 0.0, spec)
    return text[1:] if text.startswith("-") and float(text.rstrip("%")) == 0 else text


def _display_cells(table: Table) -> list[list[str]]:
    return [
        [format_cell(table.value_labels.get(str(v), v), table.formats[c]) for c, v in row.items()]
        for _, row in table.frame[list(table.headers)].iterrows()
    ]


def to_csv(table: Table) -> str:
    """The full frame as CSV (all columns, machine names, '\\n' line ends)."""
    frame = table.frame.copy()
    floats = frame.select_dtypes("float").columns
    frame[floats] = frame[floats] + 0.0  # -0.0 + 0.0 == +0.0
    text: str = frame.to_csv(index=False, lineterminator="\n", float_format=CSV_FLOAT_FORMAT)
    return text


def latex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    """A booktabs `table` environment (needs `\\usepackage{booktabs}`)."""
    align = "".join("l" if table.formats[c] == "s" else "r" for c in table.headers)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.caption)}}}",
        rf"\label{{tab:{table.name}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in table.headers.values()) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in _display_cells(table)),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def to_markdown(table: Table) -> str:
    """A padded pipe table (GitHub Markdown), numbers right-aligned, caption below."""
    header = list(table.headers.values())
    rows = [[cell.replace("|", r"\|") for cell in row] for row in _display_cells(table)]
    widths = [max(3, *(len(r[i]) for r in [header, *rows])) for i in range(len(header))]
    right = [table.formats[c] != "s" for c in table.headers]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [("-" * (w - 1) + ":") if r else "-" * w for w, r in zip(widths, right, strict=True)]
    return "\n".join([line(header), line(rule), *map(line, rows), "", table.caption]) + "\n"


_RENDERERS = {"csv": to_csv, "tex": to_latex, "md": to_markdown}


def render_tables(
    tables: Sequence[Table], directory: str | Path, formats: Sequence[str] = FORMATS
) -> dict[Path, bytes]:
    """Each table rendered as the bytes of `<directory>/<name>.<fmt>`, for each format (UTF-8).

    Raises `AnalysisInputError` for an unknown format or two tables of the same name.
    """
    unknown = [f for f in formats if f not in _RENDERERS]
    if unknown:
        raise AnalysisInputError(f"unknown table format(s) {unknown}; accepted: {list(FORMATS)}")
    names = [t.name for t in tables]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AnalysisInputError(f"table names must be unique; repeated: {duplicates}")
    directory = Path(directory)
    return {
        directory / f"{t.name}.{fmt}": _RENDERERS[fmt](t).encode("utf-8")
        for t in tables
        for fmt in formats
    }


def write_tables(
    tables: Sequence[Table], directory: str | Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write each table as `<directory>/<name>.<fmt>` for each format, atomically.

    Everything is rendered (`render_tables`) before the first file is written, so a bad table,
    a duplicate name or an unknown format leaves the directory untouched.
    """
    return write_all_atomic(render_tables(tables, directory, formats))


def write_table(
    table: Table, directory: str | Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write one table in each format (see `write_tables`)."""
    return write_tables([table], directory, formats)

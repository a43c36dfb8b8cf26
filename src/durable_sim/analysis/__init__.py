"""Analysis of run rows: statistics, the paper's tables, and Figure 1.

Reads rows (one per run, see `schema`) and never imports the engine or the baseline, so results
can be re-analysed without re-running anything.
"""

from durable_sim.analysis.figures import FIGURE_FORMATS, figure1, figure_bytes, save_figure
from durable_sim.analysis.paper_values import PAPER_VALUES, PaperValue, paper_values_frame
from durable_sim.analysis.render import to_csv, to_latex, to_markdown, write_table, write_tables
from durable_sim.analysis.schema import (
    MODELS,
    PHASES,
    REQUIRED_COLUMNS,
    AnalysisInputError,
    validate_rows,
)
from durable_sim.analysis.stats import (
    Comparison,
    Correlation,
    Effect,
    Interval,
    SignificanceTest,
    bootstrap_diff_ci,
    bootstrap_mean_ci,
    cliffs_delta,
    compare_groups,
    comparisons_frame,
    correlations_frame,
    hedges_g,
    mann_whitney,
    spearman,
    welch_test,
)
from durable_sim.analysis.tables import (
    Table,
    correlation_table,
    paper_comparison_table,
    statistics_table,
    store_ops_table,
    table1,
    table2,
)

__all__ = [
    "FIGURE_FORMATS",
    "MODELS",
    "PAPER_VALUES",
    "PHASES",
    "REQUIRED_COLUMNS",
    "AnalysisInputError",
    "Comparison",
    "Correlation",
    "Effect",
    "Interval",
    "PaperValue",
    "SignificanceTest",
    "Table",
    "bootstrap_diff_ci",
    "bootstrap_mean_ci",
    "cliffs_delta",
    "compare_groups",
    "comparisons_frame",
    "correlation_table",
    "correlations_frame",
    "figure1",
    "figure_bytes",
    "hedges_g",
    "mann_whitney",
    "paper_comparison_table",
    "paper_values_frame",
    "save_figure",
    "spearman",
    "statistics_table",
    "store_ops_table",
    "table1",
    "table2",
    "to_csv",
    "to_latex",
    "to_markdown",
    "validate_rows",
    "welch_test",
    "write_table",
    "write_tables",
]

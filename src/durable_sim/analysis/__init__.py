"""Analysis of run rows: statistics, the paper's tables, and Figure 1.

Reads rows (one per run, see `schema`) and never imports the engine or the baseline, so results
can be re-analysed without re-running anything.
"""

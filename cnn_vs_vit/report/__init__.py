"""`cnnvit report`: the notes' CNN-vs-ViT summary table, reproduced claim by claim from run directories.

build_report(results_dir, out_dir) reads every run (runs.py), computes each claim's verdict with
the rule written next to its metric (claims.py lists them: accuracy_claims.py, shift_claims.py,
probe_claims.py, context_claims.py; statistics.py for the intervals) and writes report.md, claims.csv, runs.csv and the plots (build.py, plots.py).
"""

from .build import Report, build_report
from .claim_types import CLAIMS, VERDICTS, ClaimResult
from .claims import evaluate_claims
from .runs import Run, load_runs

__all__ = ["CLAIMS", "VERDICTS", "ClaimResult", "Report", "Run", "build_report", "evaluate_claims", "load_runs"]

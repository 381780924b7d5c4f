"""`cnnvit report`: the notes' CNN-vs-ViT summary table, reproduced claim by claim from run directories.

build_report(results_dir, out_dir) reads every run (runs.py), measures each claim of the registry (claims/:
one module per row, each exporting a claim.Claim with its rule, its numbers and its prose; evaluate.py runs
them, statistics.py gives the intervals) and writes report.md, claims.csv, runs.csv and the plots (build.py,
plots.py).
"""

from .build import Report, build_report
from .claim_types import VERDICTS, ClaimResult
from .claims import CLAIMS
from .evaluate import evaluate_claims
from .runs import Run, load_runs

__all__ = ["CLAIMS", "VERDICTS", "ClaimResult", "Report", "Run", "build_report", "evaluate_claims", "load_runs"]

"""Training a run into its run directory (loading what it produced: trained_run.py)."""

from .loop import resolve_config, train_run

__all__ = ["resolve_config", "train_run"]

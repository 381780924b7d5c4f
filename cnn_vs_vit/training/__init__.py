"""Training a run into its run directory, and loading what it produced."""

from .loop import load_trained, resolve_config, train_run

__all__ = ["load_trained", "resolve_config", "train_run"]

"""Find and read the run directories under a results directory (the report's only input).

A finished run holds DONE and summary.json; a run with failed.json and no DONE is listed as
failed and never enters a statistic. Probe outputs (probes/<name>.csv and <name>_summary.json) are
read when present; those of a probe that reads test images only when its summary records the
class-stratified sample it read (data.probe_sample), never a stale result from the first N images.
"""

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .. import rundir as layout
from ..config import SAFE_LOADER, AugmentConfig
from ..errors import CnnvitError
from ..models import FAMILIES, MODEL_NAMES, PRESETS, capabilities_of, model_spec
from ..probes import PROBES
from ..probes.plugin import find

# A run is its preset's baseline when every model option it chose is the preset's own and its augmentation
# translates by the default: both read from where they are defined, so a changed default regroups nothing.
BASELINE_TRANSLATE = AugmentConfig.model_fields["translate"].default
EXPERIMENT = "experiment.yaml"
# The families the CNN-vs-ViT rows compare (models.Capabilities.family); "control" stands beside them.
CONTENDERS = ("cnn", "vit")
# A run of a model cnnvit does not name (renamed since, or made by hand in a test) is placed by the architecture
# its summary records: each model class declares both.
FAMILY_OF_ARCH = {family.model.arch: family.model.capabilities.family for family in FAMILIES}


@dataclass
class Run:
    """One run directory: its resolved config, its summary and, when probed, its probes' results."""

    path: str  # relative to the results directory, '/'-separated
    status: str  # "done" or "failed"
    config: dict
    summary: dict = field(default_factory=dict)
    failure: str = ""
    probe_rows: dict[str, pd.DataFrame] = field(default_factory=dict)  # the probes' CSVs, by probe name
    probe_summaries: dict[str, dict] = field(default_factory=dict)  # their summaries, by probe name
    probe_files: dict[str, Path] = field(default_factory=dict)  # the probes' other files (e.g. ERF maps), by file name
    probe_samples: dict[str, dict] = field(default_factory=dict)  # the test images each probe read, by probe
    # Evaluations along the run (train.eval_every): step, split ("test"/"validation"), accuracy; None for a
    # run evaluated only at its end.
    evaluations: pd.DataFrame | None = None

    @property
    def shift_rows(self) -> pd.DataFrame | None:
        return self.probe_rows.get("shift")

    @property
    def shift_summary(self) -> dict | None:
        return self.probe_summaries.get("shift")

    @property
    def arch(self) -> str:
        return self.summary.get("arch") or ("vit" if self.model.startswith("vit") else "resnet")

    @property
    def family(self) -> str:
        """The side of the comparison its model stands on, "cnn", "vit" or "control", as the model's class
        declares it (models.capabilities_of, nothing built)."""
        return capabilities_of(self.model).family if self.model in MODEL_NAMES else FAMILY_OF_ARCH[self.arch]

    @property
    def model(self) -> str:
        return str(self.summary.get("model") or self.config.get("model", {}).get("name", "?"))

    @property
    def options(self) -> dict:
        """The model options the run chose, e.g. {"pos_embed": "none"}: what makes it a variant of its preset.

        From the summary's model_options; config.yaml also holds what the preset resolved to at this image
        size (a ViT's patch size), which is no choice. Runs older than model_options recorded neither, so
        their config.yaml lists exactly the chosen options (a null option keeps the preset's value)."""
        if "model_options" in self.summary:
            return dict(self.summary["model_options"])
        return {k: v for k, v in self.config.get("model", {}).items() if k != "name" and v is not None}

    @property
    def translate(self) -> int:
        return self.config.get("augment", {}).get("translate", BASELINE_TRANSLATE)

    def option(self, key: str):
        """Model option `key` of this run: the one it chose, else its preset's (None where the preset has none)."""
        return self.options[key] if key in self.options else getattr(PRESETS.get(self.model), key, None)

    def is_baseline_except(self, *keys: str) -> bool:
        """True when every option outside `keys` is its preset's own and, unless "translate" is in `keys`,
        the translation augmentation is the default."""
        if "translate" not in keys and self.translate != BASELINE_TRANSLATE:
            return False
        chosen = [key for key in self.options if key not in keys]
        if not chosen:
            return True
        preset = PRESETS.get(self.model)
        if preset is None or any(key not in type(preset).model_fields for key in chosen):
            return False  # an option the preset does not have
        spec = model_spec(self.model, self.options)  # validated together: a JSON list is the preset's tuple
        return all(getattr(spec, key) == getattr(preset, key) for key in chosen)

    @property
    def is_baseline(self) -> bool:
        return self.is_baseline_except()

    @property
    def match_flops(self) -> str | None:
        """The model whose training FLOPs this run's budget matched (train.match_flops); None: its steps as given."""
        return self.summary.get("match_flops")

    @property
    def budget_label(self) -> str | None:
        """The budget rule the run was labelled to serve (train.budget: "plateau" or "curve"); None: unlabelled."""
        return self.summary.get("budget")

    @property
    def pairing_key(self) -> tuple:
        """Runs pair across cells when they share seed, data seed and the exact training subset."""
        s = self.summary
        return (s.get("seed"), s.get("data_seed"), s.get("subset_hash"))

    @property
    def label(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        translate = "" if self.translate == BASELINE_TRANSLATE else f", translate={self.translate}"
        return f"{self.model}{f' ({options})' if options else ''}{translate}"

    def accuracy(self) -> float:
        return float(self.summary.get("test_accuracy", math.nan))


def load_runs(results_dir: Path) -> list[Run]:
    """Every finished or failed run directory below `results_dir`, sorted by relative path."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise CnnvitError(
            f"results directory not found: {results_dir}; give the directory cnnvit train or cnnvit run wrote"
        )
    runs = []
    candidates = {p.parent for name in (layout.DONE, layout.FAILED) for p in results_dir.rglob(name)}
    for directory in sorted(candidates):
        relative = directory.relative_to(results_dir).as_posix() or "."
        config = _read_yaml(directory / layout.CONFIG)
        if (directory / layout.DONE).exists() and (directory / layout.SUMMARY).exists():
            runs.append(_read_finished(directory, relative, config))
        elif (directory / layout.FAILED).exists():
            failed = layout.read_json(directory / layout.FAILED)
            reason = "; ".join(f"{k}={failed[k]}" for k in sorted(failed))
            runs.append(Run(relative, "failed", config, failure=reason))
    if not any(run.status == "done" for run in runs):
        raise CnnvitError(f"no finished runs under {results_dir}; train some with cnnvit train or cnnvit run")
    return runs


def read_experiment(results_dir: Path) -> dict:
    """results_dir/experiment.yaml (written by cnnvit run) or {} when there is none."""
    path = Path(results_dir) / EXPERIMENT
    return _read_yaml(path) if path.exists() else {}


def reference_model(runs: list[Run], family: str, preferred: str) -> str | None:
    """The model of `family` the CNN-vs-ViT rows use: `preferred` when it was run, else the most common name."""
    names = Counter(run.model for run in runs if run.status == "done" and run.family == family)
    if not names:
        return None
    if preferred in names:
        return preferred
    return sorted(names.items(), key=lambda item: (-item[1], item[0]))[0][0]


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: path, status, every config key flattened (config.*), every summary field."""
    rows = []
    for run in runs:
        row = {"run_dir": run.path, "status": run.status, "failure": run.failure}
        row.update({f"config.{k}": v for k, v in _flatten(run.config).items()})
        row.update({k: v for k, v in run.summary.items() if not isinstance(v, (dict, list))})
        rows.append(row)
    table = pd.DataFrame(rows)
    fixed = ["run_dir", "status", "failure"]
    config_columns = sorted(c for c in table.columns if c.startswith("config."))
    summary_columns = sorted(c for c in table.columns if c not in fixed and c not in config_columns)
    return table[fixed + summary_columns + config_columns]


def _read_finished(directory: Path, relative: str, config: dict) -> Run:
    run = Run(relative, "done", config, summary=layout.read_json(directory / layout.SUMMARY))
    probes = directory / layout.PROBES
    for name in PROBES:
        rows_path, summary_path = layout.probe_files(probes, name)
        if not (rows_path.exists() and summary_path.exists()):  # the summary is written last
            continue
        summary = json.loads(summary_path.read_text())
        probe = find(name)
        if probe.reads_test_images and "sample" not in summary:
            continue  # computed on the first N test images (before data.probe_sample): possibly one class
        # with the column types the probe wrote (nullable integers, booleans), as its own cache reads them back
        run.probe_rows[name], run.probe_summaries[name] = pd.read_csv(rows_path, dtype=probe.dtypes), summary
        if "sample" in summary:
            run.probe_samples[name] = summary["sample"]
    run.probe_files = {path.name: path for path in sorted(probes.glob("*.safetensors"))}
    if run.config.get("train", {}).get("eval_every"):
        held_out = [r for r in layout.RunDir(directory).metrics() if r.get("split") in ("test", "validation")]
        run.evaluations = pd.DataFrame(held_out, columns=["step", "split", "accuracy"])
    return run


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        loaded = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except yaml.YAMLError as error:
        raise CnnvitError(
            f"cannot read {path}: {str(error).splitlines()[0]}; fix or remove that run directory"
        ) from None
    return loaded if isinstance(loaded, dict) else {}


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat

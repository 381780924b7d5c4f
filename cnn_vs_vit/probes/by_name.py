"""The probes other than `shift` (which takes its own options), run by name on a finished run directory."""

from pathlib import Path

from .. import rundir as layout

ONLY_FOR = {"attention_distance": "vit"}  # a ResNet has no attention to measure


def applies(name: str, run_dir: Path | str) -> bool:
    arch = layout.RunDir(run_dir).summary().get("arch")
    return ONLY_FOR.get(name, arch) == arch


def run_probe(name: str, run_dir: Path | str, *, force: bool = False) -> bool:
    """Run probe `name` with its defaults; saved results with the same arguments are reused (returns
    whether they were)."""
    if name == "receptive_field":
        from .receptive_field import probe_receptive_field_run_dir as probe
    elif name == "attention_distance":
        from .attention_distance import probe_attention_distance_run_dir as probe
    elif name == "mixing":
        from .mixing import probe_mixing_run_dir as probe
    elif name == "introspection":
        from .introspection import probe_introspection_run_dir as probe
    elif name == "resolution":
        from .resolution import probe_resolution_run_dir as probe
    elif name == "transfer":
        from .transfer import probe_transfer_run_dir as probe
    elif name == "multimodal":
        from .multimodal import probe_multimodal_run_dir as probe
    else:
        raise ValueError(f"no probe called {name}")
    result = probe(run_dir, force=force)
    saved = result[0] if isinstance(result, tuple) else result  # the receptive field also returns its maps
    return saved.reused

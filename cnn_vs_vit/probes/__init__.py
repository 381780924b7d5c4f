"""Probes of trained models. Each is a module here exporting PROBE (plugin.Probe) and writes
RUN_DIR/probes/<name>.csv and <name>_summary.json (written last); plugin.run_probe runs any of them.

PROBES is the registry: a new probe is its module plus its name here."""

PROBES = (
    "shift",
    "receptive_field",
    "attention_distance",
    "mixing",
    "introspection",
    "resolution",
    "transfer",
    "multimodal",
    "cka",
)

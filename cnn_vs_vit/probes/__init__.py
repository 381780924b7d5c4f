"""Probes of trained models; each writes RUN_DIR/probes/<name>.csv and <name>_summary.json (written last)."""

PROBES = ("shift", "receptive_field", "attention_distance", "mixing", "introspection", "resolution", "transfer",
          "multimodal")

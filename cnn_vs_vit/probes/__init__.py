"""Probes of trained models; each writes RUN_DIR/probes/<name>.csv and <name>_summary.json (written last)."""

PROBES = ("shift", "receptive_field", "attention_distance", "mixing", "introspection", "resolution", "transfer",
          "multimodal")
# The probes that read test images. Their results count only with a "sample" record in their summary:
# one without it was computed on the first N test images of a split that may be sorted by class.
SAMPLED = ("shift", "receptive_field", "attention_distance", "mixing", "resolution")

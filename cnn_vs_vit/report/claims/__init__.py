"""The claims registry: one module per row of the notes' table, each exporting CLAIM (report/claim.py).

ROWS lists the modules in the table's order, which is the report's order; a new claim is its module plus its
name here, the way probes/__init__.py lists the probes. A list rather than discovery on disk, so that the
order is written where it is read, and a module in progress enters no report until it is named.
"""

import importlib

from ..claim import Claim

ROWS = (
    "row_01_inductive_bias",
    "row_02_equivariance",
    "row_03_global_context",
    "row_04_receptive_field",
    "row_05_scalability",
    "row_06_dynamic_mixing",
    "row_07_architecture_complexity",
    "row_08_transfer_learning",
    "row_09_data_efficiency",
    "row_10_multimodal",
    "row_11_positional_embeddings",
    "row_12_pooling",
    "row_13_resolution_change",
    "row_14_patch_composition",
    "row_15a_patchify",
    "row_15b_positional_embeddings",
    "row_15c_attention",
    "row_16_invariance_from_data",
    "row_17_layer_similarity",
)
CLAIMS: tuple[Claim, ...] = tuple(importlib.import_module(f"{__name__}.{row}").CLAIM for row in ROWS)

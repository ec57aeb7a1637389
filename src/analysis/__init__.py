"""Resonance: social-media influence you can explain.

The package behind the DVC pipeline (``dvc.yaml``): canonical schema, dump adapters, privacy,
embeddings and topics, influence models, comparisons and reports. See README.md.
"""

__version__ = "0.1.0"

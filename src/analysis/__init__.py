"""Resonance: social-media influence you can explain.

The package behind the DVC pipeline (``dvc.yaml``): canonical schema, dump adapters, privacy,
embeddings and topics, influence models, comparisons and reports. See README.md.
"""

from analysis import numerics

# before numpy, torch or scikit-learn load: the same float results on every x86-64 machine
numerics.pin()

__version__ = "0.1.0"

"""Influence models, one module per model, all behind ``analysis.models.base.Model``."""

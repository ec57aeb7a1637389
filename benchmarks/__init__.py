"""Benchmarks of Resonance: ``python -m benchmarks`` (``make bench``) runs the size sweep.

Figures only, never gates. The scripts beside it (``ingest.py``, ``models.py``, ``embed.py``,
``topics.py``) still run on their own: ``python benchmarks/ingest.py``.
"""

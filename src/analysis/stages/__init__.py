"""The I/O edge of each pipeline stage: read inputs, call pure functions, write outputs."""

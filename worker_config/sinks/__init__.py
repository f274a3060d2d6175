"""Parquet sinks: each task's items as one part; the result backend keeps only a receipt."""

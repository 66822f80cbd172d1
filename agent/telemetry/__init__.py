"""Tracing and metrics of agent runs, and the masking of personal data on spans."""

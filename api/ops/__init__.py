"""The service's operational pieces: logs, metrics, tracing set-up, worker processes, sweeps, health and capacity."""

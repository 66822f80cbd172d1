"""Which service processes are alive (leases), and finishing the runs of those that died (recovery)."""

"""Sweeps: the Hydra callback that records each job's status, and sharing a machine between jobs."""

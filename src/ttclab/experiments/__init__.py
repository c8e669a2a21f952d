"""Experiments: what runs tasks against models (a sweep over budgets, a memory stream over problems)."""

"""Artificial Hippocampus Networks: the model side (recurrences, wrapped attention, cache, adapter folders)."""

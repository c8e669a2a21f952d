"""Artificial Hippocampus Networks: exact attention over a window, plus a learned recurrent memory of what left it."""

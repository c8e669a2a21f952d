"""Tiny Recursive Model: recursion, deep supervision and halting on puzzles."""

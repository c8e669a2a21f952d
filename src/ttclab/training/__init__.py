"""Training recipes (trm, ahn, inoculation) and what they share: the SFT runner and named presets."""

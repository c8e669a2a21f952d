"""Training recipes: TRM, and later the RL and fine-tuning recipes."""

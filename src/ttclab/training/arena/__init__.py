"""The competition arena: audiences, optimisation for them, and the misalignment it breeds (after arXiv 2510.06105)."""

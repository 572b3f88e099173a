"""Experiments that run the annotator or the prior and score them (paper tables on our data)."""

"""DIMP Curator's losses (CE, IMP, DIMP, quality) on the Hugging Face Trainer; see dimp_curator.train."""

__version__ = "0.1.0"

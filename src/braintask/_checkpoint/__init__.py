"""Saving and loading: the checkpoint file format, the training state of every copy
of a trainer, and weights alone for inference."""

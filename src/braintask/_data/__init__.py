"""Trials: the dataset type and its checks, conversion of arrays and braintools.cogtask
tasks into datasets, the delayed match-to-sample generator, trial variables, and the
sources that draw fresh trials every epoch. Nothing here knows about training."""

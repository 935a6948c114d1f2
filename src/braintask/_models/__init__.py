"""Model adapters: a readout around a brainstate cell, networks of brainmass node
models, and spiking networks with surrogate gradients."""

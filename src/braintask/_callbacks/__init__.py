"""Callbacks: what acts after each epoch of a fit (the base class and the monitored
ones, stopping rules, the criterion, loggers) and the one order in which a fit runs them."""

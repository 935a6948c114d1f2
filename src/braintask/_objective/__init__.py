"""What training minimises and how it is scored: losses and metrics (``losses``) and
the regularisers added to the loss (``penalties``)."""

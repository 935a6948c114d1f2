"""The compiled programs of training and evaluation: the task a dataset describes
(loss, metrics, masks), batched hidden states, feeding minibatches to devices,
learning-rate schedules and the check for silent gradients."""

"""Regularizers: one module per `configs/regularizer/*.yaml` option."""

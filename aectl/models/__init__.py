"""Autoencoder architectures: one module per `configs/arch/*.yaml` option."""

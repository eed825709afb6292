"""Dataset loaders: one module per `configs/dataset/*.yaml` option, each returning `Data`."""

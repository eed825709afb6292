"""What a run writes besides checkpoints: TensorBoard events and HParams, pictures, progress."""

"""The training engine: build a run, loop over epochs and steps, checkpoint, resume.

`run` sets a job up and finishes it, `loop` advances time, `member` is what one job writes
each epoch, `state` is the checkpoint, `window` the on-device loss window, `build` and
`measure` are shared with `aectl eval`, `step`/`fast_step` are the training step.
"""

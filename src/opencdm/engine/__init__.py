"""Running submissions: worker processes, the read → write loop, progress and counters."""

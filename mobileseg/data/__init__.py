"""Datasets: the SynthVOS generator, DAVIS / YouTube-VOS readers, image and mask I/O."""

"""What an exported student is, shared by the layers that write, run, time and score it.

The contract (the ``.json`` beside every exported file: entry points, state tensors, the feedback
map, digests), the signature it is built from, the targets' file names, and the journal that
publishes a set of files atomically. ``export`` writes these, ``runtime``, ``bench`` and ``eval``
read them; this package imports none of them.
"""

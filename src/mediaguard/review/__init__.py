"""What follows a verdict for the people who review it.

Design note: three steps, each in its own module, none of which knows about HTTP:

- :mod:`~mediaguard.review.preview`: the clear and shielded previews of an item,
  rendered through the scanner's own media stage and limits;
- :mod:`~mediaguard.review.intake`: a verdict to a queue item (or, for a block, to an
  automated decision), with its previews on disk;
- :mod:`~mediaguard.review.statements`: a stored decision to its DSA statement of
  reasons, shared by the API and ``mediaguard dsa export`` so both publish the same one.

The service (its runtime, API and review UI) and the CLI call into this package; it
never imports them, so the same steps run from a worker, a command or a test without a
web stack. Import the module you need: this package imports nothing itself, so the CLI's
``dsa export`` does not load the preview renderer.
"""

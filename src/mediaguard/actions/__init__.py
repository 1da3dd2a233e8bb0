"""Actions that follow a verdict: redaction now; review, webhooks and audit to come.

Design note: actions sit at the end of the pipeline and never feed back into it. Each
action module imports its heavy dependencies itself, so importing this package costs
nothing; face redaction's optional model (``mediaguard[faces]``) is loaded only when a
redaction runs.
"""

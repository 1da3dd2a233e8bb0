"""The HTTP service: API, durable jobs, signed webhooks and API keys (``mediaguard serve``).

Design note: this package needs the ``service`` extra (FastAPI, uvicorn,
pydantic-settings, python-multipart, httpcore, prometheus-client) and is imported only
by ``mediaguard serve``/``worker``, never by the core. Importing it builds nothing:
settings come from :func:`mediaguard.service.settings.load_settings` and the app from
:func:`mediaguard.service.app.create_app`, both called at start-up. The one function
meant for use outside a request is :func:`mediaguard.service.webhooks.enqueue_event`.
"""

"""The Django side of a Stratus host.

``functions_app/runtime`` runs invocations without Django: it is handed what it needs.
This package is what the ``stratus_worker`` command hands it and what the host's RQ
workers run: function specs read from the database (``specs``), the provisioned-concurrency
configs kept in step with the host's environments (``provisioning``), and the asynchronous
event job with Lambda's retries, destinations and dead-letter targets (``async_jobs``).
Code comes from Django's storage through ``services/artifacts.artifact_copy``.
"""

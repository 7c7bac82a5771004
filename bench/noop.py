"""A no-op RQ job: the floor any RQ-backed invocation path starts from."""


def noop(payload=None):
    return payload

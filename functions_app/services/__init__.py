"""Every write to the control plane goes through a function in this package.

The Lambda API, the dashboard and the admin call the same services, so validation and
side effects live in one place.
"""

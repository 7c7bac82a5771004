"""The dashboard's IAM pages: users and their keys, groups, roles, managed and inline policies,
the policy simulator and the audit log. Every page asks the IAM API's evaluator
(``access.Console``) and changes through ``iam.services``."""

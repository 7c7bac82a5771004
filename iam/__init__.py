"""Identity and access: AWS's IAM policy language, evaluated the way AWS evaluates it.

``iam.policy`` parses and evaluates policy documents, ``iam.principals`` reads callers and
Principal elements, ``iam.conditions`` holds the Condition operators and the wildcard and
variable matching they share, and ``iam.managed`` the AWS managed policies. Those modules
(and ``iam.errors``) import nothing from Django, so every Stratus surface can call them.
"""

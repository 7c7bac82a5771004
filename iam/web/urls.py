from django.urls import path, re_path

from iam.web import audit_log, groups, overview, policies, principals, roles, simulate, users

_KIND = r"(?P<kind>users|groups|roles)/(?P<name>[\w+=,.@-]+)"

urlpatterns = [
    path("", overview.overview, name="iam-home"),
    path("users/", users.user_list, name="iam-users"),
    path("users/<str:name>/", users.user_detail, name="iam-user"),
    path("users/<str:name>/delete", users.user_delete, name="iam-user-delete"),
    path("users/<str:name>/groups", groups.user_membership, name="iam-user-membership"),
    path("users/<str:name>/keys/new", users.key_create, name="iam-key-create"),
    path("users/<str:name>/keys/<str:key_id>/status", users.key_status, name="iam-key-status"),
    path("users/<str:name>/keys/<str:key_id>/delete", users.key_delete, name="iam-key-delete"),
    path("groups/", groups.group_list, name="iam-groups"),
    path("groups/<str:name>/", groups.group_detail, name="iam-group"),
    path("groups/<str:name>/delete", groups.group_delete, name="iam-group-delete"),
    path("groups/<str:name>/members", groups.group_membership, name="iam-group-membership"),
    path("roles/", roles.role_list, name="iam-roles"),
    path("roles/new", roles.role_new, name="iam-role-new"),
    path("roles/<str:name>/", roles.role_detail, name="iam-role"),
    path("roles/<str:name>/trust", roles.role_trust, name="iam-role-trust"),
    path("roles/<str:name>/delete", roles.role_delete, name="iam-role-delete"),
    re_path(rf"^{_KIND}/attach$", principals.policy_attach, name="iam-policy-attach"),
    re_path(rf"^{_KIND}/detach$", principals.policy_detach, name="iam-policy-detach"),
    re_path(rf"^{_KIND}/inline/new$", principals.inline_policy_edit, name="iam-inline-new"),
    re_path(rf"^{_KIND}/inline/(?P<policy>[\w+=,.@-]+)/$", principals.inline_policy_edit, name="iam-inline"),
    re_path(
        rf"^{_KIND}/inline/(?P<policy>[\w+=,.@-]+)/delete$",
        principals.inline_policy_delete,
        name="iam-inline-delete",
    ),
    path("policies/", policies.policy_list, name="iam-policies"),
    path("policies/new", policies.policy_new, name="iam-policy-new"),
    path("policies/view", policies.policy_detail, name="iam-policy"),
    path("policies/versions/new", policies.policy_version_new, name="iam-policy-version-new"),
    path("policies/versions/default", policies.policy_version_default, name="iam-policy-version-default"),
    path("policies/versions/delete", policies.policy_version_delete, name="iam-policy-version-delete"),
    path("policies/delete", policies.policy_delete, name="iam-policy-delete"),
    path("simulate", simulate.simulate, name="iam-simulate"),
    path("audit/", audit_log.audit_log, name="iam-audit"),
]

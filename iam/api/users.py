"""IAM's operations on users, their access keys, and groups."""

from __future__ import annotations

from functions_app.models import AccessKey
from iam import selectors, services
from iam.api.wire import caller_account, page, required
from iam.callers import SignedCaller
from iam.errors import ValidationError
from iam.models import Group, IamUser


def user_shape(iam_user: IamUser) -> dict:
    return {
        "Path": iam_user.path,
        "UserName": iam_user.name,
        "UserId": iam_user.unique_id,
        "Arn": iam_user.arn,
        "CreateDate": iam_user.created_at,
    }


def group_shape(group: Group) -> dict:
    return {
        "Path": group.path,
        "GroupName": group.name,
        "GroupId": group.unique_id,
        "Arn": group.arn,
        "CreateDate": group.created_at,
    }


def _key_status(key: AccessKey) -> str:
    return "Active" if key.revoked_at is None else "Inactive"


def named_user(caller: SignedCaller, params: dict) -> IamUser:
    """The user ``UserName`` names in the caller's account, or the caller itself without one."""
    name = params.get("UserName")
    if name:
        return selectors.user_get(account_id=caller.account_id, name=name)
    iam_user = getattr(caller.user, "iam_user", None)
    if iam_user is None:
        raise ValidationError("Must specify userName when calling with non-User credentials")
    return iam_user


def _path_prefixed(queryset, params: dict):
    prefix = params.get("PathPrefix")
    return queryset.filter(path__startswith=prefix) if prefix else queryset


# --- Users ------------------------------------------------------------------------------------


def create_user(caller: SignedCaller, params: dict) -> dict:
    iam_user = services.user_create(
        account=caller_account(caller), name=required(params, "UserName"), path=params.get("Path")
    )
    return {"User": user_shape(iam_user)}


def get_user(caller: SignedCaller, params: dict) -> dict:
    if not params.get("UserName") and caller.session is None and not hasattr(caller.user, "iam_user"):
        # A superuser made by createsuperuser has no IAM identity; answer as AWS does for root.
        return {
            "User": {
                "Path": "/",
                "UserName": caller.user.get_username(),
                "UserId": caller.account_id,
                "Arn": caller.principal_arn,
                "CreateDate": caller.user.date_joined,
            }
        }
    return {"User": user_shape(named_user(caller, params))}


def list_users(caller: SignedCaller, params: dict) -> dict:
    found = _path_prefixed(IamUser.objects.filter(account_id=caller.account_id).order_by("name"), params)
    return page(found, params, "Users", shape=user_shape)


def delete_user(caller: SignedCaller, params: dict) -> dict:
    services.user_delete(
        iam_user=selectors.user_get(account_id=caller.account_id, name=required(params, "UserName"))
    )
    return {}


# --- Access keys --------------------------------------------------------------------------------


def create_access_key(caller: SignedCaller, params: dict) -> dict:
    iam_user = named_user(caller, params)
    key, secret = services.access_key_issue(iam_user=iam_user)
    return {
        "AccessKey": {
            "UserName": iam_user.name,
            "AccessKeyId": key.access_key_id,
            "Status": "Active",
            "SecretAccessKey": secret,
            "CreateDate": key.created_at,
        }
    }


def list_access_keys(caller: SignedCaller, params: dict) -> dict:
    iam_user = named_user(caller, params)

    def shape(key: AccessKey) -> dict:
        return {
            "UserName": iam_user.name,
            "AccessKeyId": key.access_key_id,
            "Status": _key_status(key),
            "CreateDate": key.created_at,
        }

    keys = AccessKey.objects.filter(user_id=iam_user.user_id).order_by("created_at", "id")
    return page(keys, params, "AccessKeyMetadata", shape=shape)


def update_access_key(caller: SignedCaller, params: dict) -> dict:
    key = selectors.access_key_get(
        iam_user=named_user(caller, params), access_key_id=required(params, "AccessKeyId")
    )
    services.access_key_status_set(key=key, status=required(params, "Status"))
    return {}


def delete_access_key(caller: SignedCaller, params: dict) -> dict:
    key = selectors.access_key_get(
        iam_user=named_user(caller, params), access_key_id=required(params, "AccessKeyId")
    )
    services.access_key_delete(key=key)
    return {}


# --- Groups -----------------------------------------------------------------------------------


def _group(caller: SignedCaller, params: dict) -> Group:
    return selectors.group_get(account_id=caller.account_id, name=required(params, "GroupName"))


def create_group(caller: SignedCaller, params: dict) -> dict:
    group = services.group_create(
        account=caller_account(caller), name=required(params, "GroupName"), path=params.get("Path")
    )
    return {"Group": group_shape(group)}


def get_group(caller: SignedCaller, params: dict) -> dict:
    group = _group(caller, params)
    members = group.members.order_by("name")
    return {"Group": group_shape(group), **page(members, params, "Users", shape=user_shape)}


def list_groups(caller: SignedCaller, params: dict) -> dict:
    found = _path_prefixed(Group.objects.filter(account_id=caller.account_id).order_by("name"), params)
    return page(found, params, "Groups", shape=group_shape)


def delete_group(caller: SignedCaller, params: dict) -> dict:
    services.group_delete(group=_group(caller, params))
    return {}


def add_user_to_group(caller: SignedCaller, params: dict) -> dict:
    group = _group(caller, params)
    iam_user = selectors.user_get(account_id=caller.account_id, name=required(params, "UserName"))
    services.group_member_add(group=group, iam_user=iam_user)
    return {}


def remove_user_from_group(caller: SignedCaller, params: dict) -> dict:
    group = _group(caller, params)
    iam_user = selectors.user_get(account_id=caller.account_id, name=required(params, "UserName"))
    services.group_member_remove(group=group, iam_user=iam_user)
    return {}


def list_groups_for_user(caller: SignedCaller, params: dict) -> dict:
    iam_user = selectors.user_get(account_id=caller.account_id, name=required(params, "UserName"))
    return page(iam_user.groups.order_by("name"), params, "Groups", shape=group_shape)


OPERATIONS = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "DeleteUser": delete_user,
    "CreateAccessKey": create_access_key,
    "ListAccessKeys": list_access_keys,
    "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key,
    "CreateGroup": create_group,
    "GetGroup": get_group,
    "ListGroups": list_groups,
    "DeleteGroup": delete_group,
    "AddUserToGroup": add_user_to_group,
    "RemoveUserFromGroup": remove_user_from_group,
    "ListGroupsForUser": list_groups_for_user,
}

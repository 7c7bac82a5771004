"""``{% iam_section_visible as name %}``: whether the signed-in user may see the IAM pages, for
the nav in ``base.html`` (the pages themselves ask again, see ``iam.web.access``)."""

from __future__ import annotations

from django import template

from iam.web.access import dashboard_caller, section_visible

register = template.Library()


@register.simple_tag(takes_context=True)
def iam_section_visible(context) -> bool:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return False
    return section_visible(dashboard_caller(user))

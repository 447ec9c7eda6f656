"""Create and configure projects; add, change and remove members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from annotune.errors import ApplicationError

from .. import permissions
from ..models import Example, Membership, Project, Role

SETTABLE_FIELDS = (
    "name",
    "description",
    "guidelines",
    "base_model",
    "default_system_prompt",
    "categories",
    "general_category",
    "style_tags",
    "glossary",
    "response_schema",
    "max_tokens",
    "validation_policy",
    "style_rules",
    "reviews_required",
    "reject_reasons",
)


def _clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Check the project settings a user sent; raise one ApplicationError listing every bad field."""
    errors: dict[str, list[str]] = {}
    unknown = set(fields) - set(SETTABLE_FIELDS)
    if unknown:
        errors["non_field_errors"] = [f"Unknown field(s): {', '.join(sorted(unknown))}."]
    out = {k: v for k, v in fields.items() if k in SETTABLE_FIELDS}

    if "name" in out:
        name = out["name"].strip() if isinstance(out["name"], str) else ""
        if not name:
            errors["name"] = ["Give the project a name."]
        elif len(name) > 200:
            errors["name"] = ["Keep the name under 200 characters."]
        out["name"] = name
    for field, limit in (("description", 500), ("guidelines", 200_000), ("default_system_prompt", 32_000)):
        if field in out and (not isinstance(out[field], str) or len(out[field]) > limit):
            errors[field] = [f"Text of at most {limit:,} characters."]
    if "categories" in out:
        out["categories"] = _clean_categories(out["categories"], errors)
    if "style_tags" in out:
        tags = out["style_tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            errors["style_tags"] = ["A list of non-empty labels."]
        else:
            out["style_tags"] = list(dict.fromkeys(t.strip() for t in tags))
    if "reject_reasons" in out:
        reasons = out["reject_reasons"]
        if not isinstance(reasons, list) or not reasons or not all(isinstance(r, str) and r.strip() for r in reasons):
            errors["reject_reasons"] = ["A non-empty list of reason codes, e.g. factual_error, style."]
        else:
            out["reject_reasons"] = list(dict.fromkeys(r.strip() for r in reasons))
    if "glossary" in out:
        glossary = out["glossary"]
        if not isinstance(glossary, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
            for k, v in glossary.items()
        ):
            errors["glossary"] = [
                'An object mapping each preferred term to its forbidden variants: {"sign in": ["login"]}.'
            ]
    if out.get("response_schema") is not None:
        schema = out["response_schema"]
        if not isinstance(schema, dict):
            errors["response_schema"] = ["A JSON Schema object, or null for free text."]
        else:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                errors["response_schema"] = [f"Not a valid JSON Schema: {exc.message}"]
    if "validation_policy" in out and not isinstance(out["validation_policy"], dict):
        errors["validation_policy"] = ["An object of check settings."]
    elif "validation_policy" in out:
        from validators.registry import parse_policy

        try:
            parse_policy(out["validation_policy"])
        except (ValueError, TypeError, AttributeError) as exc:
            errors["validation_policy"] = [
                f'{exc}. Write it as {{"overrides": {{"code": "error|warning|info"}}, "disabled": ["code"]}}.'
            ]
    if "style_rules" in out:
        out["style_rules"] = _clean_style_rules(out["style_rules"], errors)
    if "reviews_required" in out:
        value = out["reviews_required"]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3:
            errors["reviews_required"] = ["Between 1 and 3 reviews per example."]
    if "max_tokens" in out:
        value = out["max_tokens"]
        if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 131_072:
            errors["max_tokens"] = ["A token budget between 16 and 131072."]
    if "general_category" in out and not isinstance(out["general_category"], str):
        errors["general_category"] = ["A category name or empty."]
    if errors:
        raise ApplicationError("Some project settings are invalid.", errors)
    return out


def _clean_style_rules(value: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The house style rules (validators/style.py) in their stored shape: only the rules that are set."""
    from validators.style import StyleRules, style_rules_problems

    if value is None:
        return {}
    problems = style_rules_problems(value)
    if problems:
        errors["style_rules"] = list(problems.values())
        return {}
    return StyleRules.from_dict(value).to_dict()


def _clean_categories(value: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        errors["categories"] = ['A list like [{"name": "billing", "target_share": 0.3}].']
        return []
    cleaned, seen = [], set()
    for item in value:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            errors["categories"] = ["Each category needs a name."]
            return []
        name = item["name"].strip()
        if name in seen:
            errors["categories"] = [f"Category {name!r} appears twice."]
            return []
        seen.add(name)
        share = item.get("target_share")
        if share is not None and (isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1):
            errors["categories"] = [f"Target share of {name!r} must be a fraction between 0 and 1."]
            return []
        cleaned.append({"name": name, "target_share": None if share is None else float(share)})
    total = sum(c["target_share"] or 0 for c in cleaned)
    if total > 1.0001:
        errors["categories"] = [f"Target shares add up to {total:.2f}; they must not exceed 1."]
    return cleaned


@transaction.atomic
def project_create(*, user, name: str, **fields: Any) -> Project:
    cleaned = _clean_fields({"name": name, **fields})
    project = Project.objects.create(created_by=user, **cleaned)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return project


@transaction.atomic
def project_update(*, project: Project, user, **fields: Any) -> Project:
    permissions.require(permissions.can_manage_project(user, project), "Only owners can change project settings.")
    cleaned = _clean_fields(fields)
    for field, value in cleaned.items():
        setattr(project, field, value)
    # Only the fields sent: saving the whole row would write back what this request read of the
    # others, undoing another owner's change made meanwhile.
    project.save(update_fields=[*cleaned, "updated_at"])
    return project


def _lock_owners(project: Project) -> set[int]:
    """The user ids of the project's owners, their memberships locked (in id order) until commit.

    Every change that could take away an owner takes this lock first, so two owners demoting or
    removing each other at once are serialised and the second sees the first's result: a count read
    without it let both go ahead and left the project with no owner.
    """
    owners = Membership.objects.select_for_update().filter(project=project, role=Role.OWNER).order_by("pk")
    return set(owners.values_list("user_id", flat=True))


def _clean_role(role: Any) -> str:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", {"role": [f"Use one of {', '.join(Role.values)}."]})
    return role


@transaction.atomic
def member_add(*, project: Project, actor, username: Any, role: Any = Role.ANNOTATOR) -> Membership:
    permissions.require(permissions.can_manage_project(actor, project), "Only owners can add members.")
    role = _clean_role(role)
    user = get_user_model().objects.filter(username=username).first() if isinstance(username, str) else None
    if user is None:
        raise ApplicationError(f"No user named {username!r}.", {"username": ["Check the spelling of the username."]})
    already = ApplicationError(f"{user.username} is already a member.", {"username": ["Change their role instead."]})
    if Membership.objects.filter(project=project, user=user).exists():
        raise already
    try:
        with transaction.atomic():  # the same person added twice at once (a double click): the constraint decides
            return Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError:
        raise already from None


@transaction.atomic
def member_set_role(*, membership: Membership, actor, role: Any) -> Membership:
    permissions.require(permissions.can_manage_project(actor, membership.project), "Only owners can change roles.")
    role = _clean_role(role)
    owners = _lock_owners(membership.project)
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.OWNER and role != Role.OWNER and not owners - {locked.user_id}:
        raise ApplicationError("A project needs at least one owner; make someone else owner first.")
    locked.role = role
    locked.save(update_fields=["role"])
    if role not in (Role.OWNER, Role.REVIEWER):
        _release_claims(locked)
    return locked


def _release_claims(membership: Membership) -> None:
    """A member who may no longer review lets go of their review-queue claims in the project: the
    examples go to the other reviewers now rather than when the claims expire."""
    Example.objects.filter(project_id=membership.project_id, claimed_by_id=membership.user_id).update(
        claimed_by=None, claim_expires_at=None
    )


@transaction.atomic
def member_remove(*, membership: Membership, actor) -> None:
    if not permissions.can_manage_project(actor, membership.project):
        raise PermissionDenied("Only owners can remove members.")
    owners = _lock_owners(membership.project)
    locked = Membership.objects.select_for_update().filter(pk=membership.pk).first()
    if locked is None:
        return  # removed meanwhile
    if locked.role == Role.OWNER and not owners - {locked.user_id}:
        raise ApplicationError("A project needs at least one owner; make someone else owner first.")
    _release_claims(locked)
    locked.delete()


@dataclass(frozen=True)
class MemberAddResult:
    """What "Add member" did: invited the person (the token is shown once). `membership` stays None:
    nobody is added without accepting."""

    membership: Membership | None = None
    invitation: Any = None  # accounts.models.Invitation
    token: str | None = None


@transaction.atomic
def member_add_or_invite(*, project: Project, actor, identifier: Any, role: Any = Role.ANNOTATOR) -> MemberAddResult:
    """Invite someone by username or e-mail address: a one-time link with which they join with the
    role, creating an account or, logged in, with the account they have (accounts.services).

    The answer is the same whether or not an account with that name or address exists, so it tells
    nothing about other people's accounts, and nobody becomes a member without accepting. Only a
    username that already belongs to a member of this project (whom the owner sees) is refused.
    """
    from accounts.services import invitation_create

    permissions.require(permissions.can_manage_project(actor, project), "Only owners can add members.")
    role = _clean_role(role)
    text = identifier.strip() if isinstance(identifier, str) else ""
    if not text:
        raise ApplicationError("Say whom to add.", {"identifier": ["Enter a username or an e-mail address."]})
    if "@" in text:
        try:
            validate_email(text)
        except ValidationError:
            raise ApplicationError(
                f"{text!r} is neither a username nor an e-mail address.",
                {"identifier": ["Check the address, e.g. maria@example.org."]},
            ) from None
        invitation, token = invitation_create(project=project, actor=actor, role=role, email=text)
        return MemberAddResult(invitation=invitation, token=token)
    try:
        if len(text) > 150:
            raise ValidationError("too long")
        UnicodeUsernameValidator()(text)
    except ValidationError:
        raise ApplicationError(
            f"{text!r} cannot be a username.",
            {"identifier": ["Usernames have up to 150 letters, digits and @ . + - _ (no spaces)."]},
        ) from None
    if Membership.objects.filter(project=project, user__username__iexact=text).exists():
        raise ApplicationError(f"{text} is already a member.", {"identifier": ["Change their role instead."]})
    invitation, token = invitation_create(project=project, actor=actor, role=role, username=text)
    return MemberAddResult(invitation=invitation, token=token)

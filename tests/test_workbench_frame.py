"""The workbench's frame: every role signs in at /counter, sees the menu its permissions allow
and the queues of its regions, and is refused (a Chinese page, 403) what its role does not hold.
"""

from __future__ import annotations

import pytest

from api_support import START, add_insured, add_staff_user, client_for, security
from workbench_support import workbench_sign_in
from yibao.clock import FixedClock
from yibao.security.permissions import ROLE_PERMISSIONS, Permission
from yibao.security.staff import StaffRole
from yibao.web.counter.workbench import NAV

ROLES = [role.value for role in StaffRole]


@pytest.fixture
def world(engine):
    add_insured(engine, 1)
    for role in StaffRole:
        add_staff_user(engine, f"{role.value}1", role)
    add_staff_user(engine, "agent_two", StaffRole.AGENT, region_code="310000")
    with client_for(engine, security(FixedClock(START))) as client:
        yield client


def test_every_role_has_a_permission_set_and_admins_read_no_person(world):
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    person_reads = {Permission.PERSON_VIEW, Permission.WITHDRAWAL_VIEW, Permission.TRANSFER_VIEW, Permission.REFUND_VIEW,
                    Permission.AUDIT_VIEW, Permission.STATEMENT_PRINT, Permission.STATEMENT_BATCH}
    assert not ROLE_PERMISSIONS["admin"] & person_reads
    assert all(permission.label for permission in Permission)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_menu_its_permissions_allow(engine, world, role):
    assert workbench_sign_in(world, f"{role}1").status_code == 303
    start = world.get("/counter").text
    for item in NAV:
        shown = f'href="{item.url}"' in start
        assert shown == (item.permission is None or item.permission in ROLE_PERMISSIONS[role]), (role, item.key)
    assert ("查找参保人" in start) == (Permission.PERSON_VIEW in ROLE_PERMISSIONS[role])
    assert ("待办事项" in start) == (role in ("agent", "supervisor"))


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_a_person_page_is_refused_to_roles_without_the_permission(world, role):
    workbench_sign_in(world, f"{role}1")
    refused = world.get("/counter/persons/1")
    assert refused.status_code == 403 and "查询参保人信息" in refused.text and "系统管理员" in refused.text


def test_a_region_scoped_agent_is_named_with_their_region(world):
    workbench_sign_in(world, "agent_two")
    assert "上海市" in world.get("/counter").text

"""Blinding, seen from both sides, and what the authorisation matrix found.

The matrix scans every answer a user without VIEW_ARM_NAMES gets for the arm names. These tests
show the scan can fail: the same pages give the names to an unblinded statistician.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from tests.security.conftest import ARM_NAMES, MatrixWorld
from tests.security.matrix import send
from trial.models import Trial

pytestmark = pytest.mark.django_db

INTERVENTION = ARM_NAMES["A"]


def allocation_urls(world: MatrixWorld) -> list[str]:
    """Pages and endpoints that show allocations (arm per participant or per arm)."""
    study_id = world.objects["ips"]["participant"]["inside"]
    return [
        # The figures (a statistician's landing page is their analysis, without arms).
        "/trials/ips/statistics/",
        f"/trials/ips/participants/{study_id}/",
        "/trials/ips/randomisation/",
        "/trials/ips/pathways/",
        "/api/v1/trials/ips/arms/",
        "/api/v1/trials/ips/allocations/",
    ]


def test_unblinded_statistician_sees_the_arm_names_blinded_one_does_not(
    matrix_world: MatrixWorld,
) -> None:
    for url in allocation_urls(matrix_world):
        api = url.startswith("/api/")
        unblinded = send(
            matrix_world.client("unblinded"), matrix_world.cookies["unblinded"], "GET", url, api
        )
        assert unblinded.status == 200, url
        assert INTERVENTION in unblinded.text, url
        blinded = send(
            matrix_world.client("statistician"),
            matrix_world.cookies["statistician"],
            "GET",
            url,
            api,
        )
        assert blinded.status == 200, url
        assert not [name for name in ARM_NAMES.values() if name in blinded.text], url


@pytest.mark.parametrize("page", ["score", "consensus"])
def test_empty_fidelity_score_post_is_an_empty_draft_not_a_crash(
    matrix_world: MatrixWorld, page: str
) -> None:
    """An empty POST used to crash (500): the unbound form had no cleaned_data. Blank items
    are now a draft (fidelity.scales): the scores page saves an empty draft and says how many
    items remain; the consensus page says why it cannot be recorded yet, or saves a draft."""
    review = matrix_world.objects["ips"]["review"]["inside"]
    url = f"/trials/ips/fidelity/reviews/{review}/{page}/"
    client, cookies = matrix_world.client("reviewer"), matrix_world.cookies["reviewer"]
    got = send(client, cookies, "POST", url, api=False)
    assert got.status == 302 if page == "score" else got.status in (200, 302), got


def test_after_the_analysis_is_unblinded_the_statistician_sees_the_names(
    matrix_world: MatrixWorld,
) -> None:
    """The matrix world's plan is locked and the statistician is blind; the unblinding event
    (here its effect on the trial, rolled back afterwards) shows them the names."""
    client, cookies = matrix_world.client("statistician"), matrix_world.cookies["statistician"]
    with transaction.atomic():
        Trial.objects.filter(code="ips").update(analysis_unblinded_at=timezone.now())
        for url in (
            "/trials/ips/statistics/",
            "/api/v1/trials/ips/arms/",
            "/trials/ips/randomisation/",
        ):
            got = send(client, cookies, "GET", url, url.startswith("/api/"))
            assert got.status == 200 and INTERVENTION in got.text, url
        transaction.set_rollback(True)
    got = send(client, cookies, "GET", "/api/v1/trials/ips/arms/", True)
    assert INTERVENTION not in got.text

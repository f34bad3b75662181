"""The job strain page and API against hand-computed figures, with blinding and permissions."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import time_machine

from occupations import jobs
from tests.conftest import World
from tests.occupations.helpers import MATRIX, TODAY, build, import_matrix


@time_machine.travel(TODAY, tick=False)
def test_jobs_reached_counts_each_occupation_once(world: World) -> None:
    build(world)
    frame = jobs.jobs_reached(world.trial)
    assert len(frame) == 6  # 5223 twice for one participant is one job; "" is no job
    assert sorted(frame["code"]) == ["4110", "5221", "5223", "7411", "9112", "9122"]
    assert frame.groupby("arm_code").size().to_dict() == {"A": 3, "B": 3}
    assert set(frame["source"]) == {"assessment"}


@time_machine.travel(TODAY, tick=False)
def test_page_figures_match_hand_computed_values(world: World) -> None:
    build(world)
    import_matrix(world, MATRIX)
    response = world.client("unblinded").get("/trials/ips/job-strain/")
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary.measures == ["mechanical", "psychosocial"]
    by_arm = {g.arm: g for g in summary.groups}
    assert list(by_arm) == ["A: Intervention", "B: Usual services", "__overall__"]
    a, b, overall = by_arm.values()
    assert (a.jobs, a.participants, b.jobs, overall.jobs) == (3, 3, 3, 6)
    # A mechanical: 4, 5 → mean 4.5, SD sqrt(0.5); psychosocial: 3, 5 → 4.0
    a_mech, a_psy = a.measures
    assert (a_mech.n, a_mech.mean) == (2, 4.5)
    assert a_mech.sd == pytest.approx(math.sqrt(0.5), abs=1e-12)
    assert (a_psy.n, a_psy.mean) == (2, 4.0)
    # B mechanical: 3 → 3.0 (no SD); psychosocial: 3, 2 → 2.5
    b_mech, b_psy = b.measures
    assert (b_mech.n, b_mech.mean, b_mech.sd) == (1, 3.0, None)
    assert (b_psy.n, b_psy.mean) == (2, 2.5)
    # overall mechanical 4, 5, 3 → mean 4, SD 1; psychosocial 3, 5, 3, 2 → mean 3.25, median 3
    o_mech, o_psy = overall.measures
    assert (o_mech.mean, o_mech.sd, o_mech.minimum, o_mech.maximum) == (4.0, 1.0, 3.0, 5.0)
    assert (o_psy.n, o_psy.mean, o_psy.median) == (4, 3.25, 3.0)
    assert o_psy.q1 == pytest.approx(2.75) and o_psy.q3 == pytest.approx(3.5)  # linear
    # coarsest level per job: A → 1, 3, 1; B → 1, 2, unscored
    assert a.level_counts == [0, 1, 0, 2] and a.unscored == 0
    assert b.level_counts == [0, 0, 1, 1] and b.unscored == 1
    majors = {row.code: row.counts for row in summary.major_groups}
    assert majors == {"4": [0, 1, 1], "5": [1, 1, 2], "7": [1, 0, 1], "9": [1, 1, 2]}
    page = response.content.decode()
    assert "4.50" in page and "3.25" in page and "<svg" in page
    chart = response.context["chart"]
    assert [(bar.arm, bar.measure, bar.value) for bar in chart.bars] == [
        ("A: Intervention", "Mechanical strain", 4.5),
        ("B: Usual services", "Mechanical strain", 3.0),
        ("A: Intervention", "Psychosocial strain", 4.0),
        ("B: Usual services", "Psychosocial strain", 2.5),
    ]


@time_machine.travel(TODAY, tick=False)
def test_blinded_roles_see_arm_codes_only(world: World) -> None:
    build(world)
    import_matrix(world, MATRIX)
    for persona in ("statistician", "datamanager", "monitor", "coordinator"):
        response = world.client(persona).get("/trials/ips/job-strain/")
        assert response.status_code == 200
        page = response.content.decode()
        arms = [g.arm for g in response.context["summary"].arms]
        if persona == "statistician":
            assert arms == ["A", "B"]
            assert "Intervention" not in page and "Usual services" not in page
        else:
            assert arms == ["A: Intervention", "B: Usual services"]


@pytest.mark.parametrize(
    ("persona", "status"),
    [("caseworker", 403), ("reviewer", 403), ("outsider", 404), ("monitor", 200)],
)
def test_who_may_see_job_strain(world: World, persona: str, status: int) -> None:
    assert world.client(persona).get("/trials/ips/job-strain/").status_code == status


def test_page_without_a_matrix_says_so(world: World) -> None:
    response = world.client("coordinator").get("/trials/ips/job-strain/")
    assert "uses no job exposure matrix yet" in response.content.decode()
    assert "summary" not in response.context


@time_machine.travel(TODAY, tick=False)
def test_api_code_search_and_matrices(world: World) -> None:
    client = world.client("statistician")
    found = client.get("/api/v1/occupations/", {"q": "522"}).json()
    assert [row["code"] for row in found] == ["5221", "5222", "5223", "522"]
    assert found[2] == {
        "code": "5223",
        "level": 4,
        "parent": "522",
        "title_nb": "Butikkmedarbeidere",
        "title_en": "",
    }
    majors = client.get("/api/v1/occupations/", {"level": "1"}).json()
    assert len(majors) == 10
    assert client.get("/api/v1/occupations/", {"level": "9"}).status_code == 400
    matrix = import_matrix(world, MATRIX)
    listed = client.get("/api/v1/trials/ips/jems/").json()
    assert [(m["name"], m["active"], m["entries"]) for m in listed] == [("Test JEM", True, 6)]
    rows = client.get(f"/api/v1/trials/ips/jems/{matrix.pk}/entries/?measure=psychosocial")
    assert rows.json() == [
        {"code": "5", "level": 1, "measure": "psychosocial", "score": 3.0},
        {"code": "91", "level": 2, "measure": "psychosocial", "score": 2.0},
        {"code": "911", "level": 3, "measure": "psychosocial", "score": 5.0},
    ]
    assert world.client("caseworker").get("/api/v1/trials/ips/jems/").status_code == 403
    assert world.client("outsider").get("/api/v1/trials/ips/jems/").status_code == 404
    other = world.client("outsider").get(f"/api/v1/trials/ips/jems/{matrix.pk}/entries/")
    assert other.status_code == 404


@time_machine.travel(TODAY, tick=False)
def test_work_spells_with_occupation_codes_count_as_jobs(world: World) -> None:
    from pathways.models import Spell, SpellState

    build(world)
    work = SpellState.objects.create(
        trial=world.trial,
        code="work",
        label_en="Work",
        label_nb="Arbeid",
        colour="#1f5f8b",
        priority=1,
        detail=SpellState.Detail.OCCUPATION,
    )
    first = world.participants["OSLA"][0]  # reached 5223 at m3 already
    second = world.participants["BGO"][1]  # reached 4110; now also 5322 in the register
    for participant, code in ((first, "5223"), (second, "5322"), (second, "")):
        Spell.objects.create(
            trial=world.trial,
            participant=participant,
            state=work,
            starts_on=dt.date(2025, 4, 1) if code else dt.date(2025, 8, 1),
            source="register",
            detail=code,
        )
    frame = jobs.jobs_reached(world.trial)
    assert len(frame) == 7  # the 5223 spell repeats a job; the spell without a code is none
    added = frame[frame["code"] == "5322"].iloc[0]
    assert (added["source"], added["arm_code"]) == ("work_spell", "B")
    # the spell (April) came before the assessment (June): the job was first seen there
    earliest = frame[(frame["participant_id"] == first.pk) & (frame["code"] == "5223")]
    assert earliest.iloc[0]["source"] == "work_spell"

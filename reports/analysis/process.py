"""Process-evaluation figures over plain data frames: recruitment and retention, follow-up
completeness, and the relation between site fidelity and site-level outcomes.

The frames are those of :class:`reports.analysis.results.EffectData` (study ids only) plus the
CONSORT flow frame of :mod:`reports.analysis.consort` (``status``: active, withdrawn, lost) and a
frame of fidelity reviews; nothing here reads the database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure
from scipy import stats

from reports.analysis.figures import ACCENT, COLOURS, to_svg
from reports.analysis.text import _


def _month(dates: pd.Series) -> pd.Series:
    return pd.to_datetime(dates).dt.strftime("%Y-%m")


def recruitment_by_month(people: pd.DataFrame, arm_names: dict[str, str]) -> pd.DataFrame:
    """Participants randomised per calendar month: one column per arm, the total and the
    cumulative total. Months without anyone randomised between the first and last are kept."""
    arms = list(arm_names.values())
    if people.empty:
        return pd.DataFrame(columns=["month", *arms, "total", "cumulative"])
    months = _month(people["randomised_on"])
    counts = pd.crosstab(months, people["arm"].map(arm_names)).reindex(columns=arms, fill_value=0)
    every = pd.period_range(months.min(), months.max(), freq="M").strftime("%Y-%m")
    counts = counts.reindex(every, fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts["cumulative"] = counts["total"].cumsum()
    return counts.rename_axis("month").reset_index()


def recruitment_svg(people: pd.DataFrame, *, by: str, ylabel: str) -> str:
    """Cumulative number randomised by month, one line per value of ``by`` (site or arm)."""
    figure = MplFigure(figsize=(7, 3.2))
    axes = figure.add_axes((0.1, 0.17, 0.68, 0.76))
    months = pd.to_datetime(people["randomised_on"]).dt.to_period("M")
    for index, (name, group) in enumerate(sorted(people.groupby(by), key=lambda item: item[0])):
        counts = months[group.index].value_counts().sort_index().cumsum()
        axes.step(
            [p.to_timestamp() for p in counts.index],
            counts.to_numpy(),
            where="post",
            color=COLOURS[index % len(COLOURS)],
            linestyle="-" if index < len(COLOURS) else "--",
            label=str(name),
        )
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    for label in axes.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    return to_svg(figure)


def _due(outcomes: pd.DataFrame, missed: pd.DataFrame, visit: str | None) -> pd.DataFrame:
    """One row per participant and visit that was due by the cut-off, with ``assessed``."""
    done = outcomes[["study_id", "visit"]].assign(reason="assessed")
    gone = missed[missed["reason"] != "not yet due"][["study_id", "visit", "reason"]]
    rows = pd.concat([done, gone], ignore_index=True)
    if visit is not None:
        rows = rows[rows["visit"] == visit]
    return rows


def retention_by_site(
    people: pd.DataFrame,
    flow: pd.DataFrame,
    outcomes: pd.DataFrame,
    missed: pd.DataFrame,
    visit: str | None,
) -> pd.DataFrame:
    """Per site: randomised, first and last randomisation date, withdrawn, lost to follow-up,
    and at ``visit`` (every visit when None) the assessments due by the cut-off, those made and
    their share (completeness)."""
    columns = [
        "site",
        "randomised",
        "first_randomised",
        "last_randomised",
        "withdrawn",
        "lost",
        "due",
        "assessed",
        "completeness",
    ]
    if people.empty:
        return pd.DataFrame(columns=columns)
    status = flow.set_index("study_id")["status"] if not flow.empty else pd.Series(dtype=str)
    site_of = people.set_index("study_id")["site"]
    due = _due(outcomes, missed, visit)
    due = due.assign(site=due["study_id"].map(site_of)).dropna(subset=["site"])
    rows = []
    for site, group in people.groupby("site", sort=True):
        states = group["study_id"].map(status)
        at_site = due[due["site"] == site]
        n_due = len(at_site)
        n_assessed = int((at_site["reason"] == "assessed").sum())
        rows.append(
            {
                "site": site,
                "randomised": len(group),
                "first_randomised": min(group["randomised_on"]),
                "last_randomised": max(group["randomised_on"]),
                "withdrawn": int((states == "withdrawn").sum()),
                "lost": int((states == "lost").sum()),
                "due": n_due,
                "assessed": n_assessed,
                "completeness": n_assessed / n_due if n_due else None,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def completeness_by_visit(
    people: pd.DataFrame,
    outcomes: pd.DataFrame,
    missed: pd.DataFrame,
    arm_names: dict[str, str],
) -> pd.DataFrame:
    """Per follow-up visit and arm: assessments due by the cut-off, made, missed, not made
    because the participant had withdrawn or was lost to follow-up, not yet due, and
    completeness (made / due)."""
    columns = ["visit", "arm", "due", "assessed", "missed", "withdrawn", "lost", "not_yet_due"]
    columns.append("completeness")
    if people.empty:
        return pd.DataFrame(columns=columns)
    arm_of = people.set_index("study_id")["arm"]
    rows = pd.concat(
        [outcomes[["study_id", "visit"]].assign(reason="assessed"), missed],
        ignore_index=True,
    )
    rows["arm"] = rows["study_id"].map(arm_of)
    rows = rows.dropna(subset=["arm"])
    order = list(outcomes.drop_duplicates("visit").sort_values("offset_months")["visit"])
    order += sorted(set(rows["visit"]) - set(order))
    out = []
    for visit in order:
        for code, name in arm_names.items():
            group = rows[(rows["visit"] == visit) & (rows["arm"] == code)]
            counts = group["reason"].value_counts()
            assessed = int(counts.get("assessed", 0))
            missed_n = int(counts.get("missed", 0))
            withdrawn = int(counts.get("withdrawn", 0))
            lost = int(counts.get("lost", 0))
            due = assessed + missed_n + withdrawn + lost
            out.append(
                {
                    "visit": visit,
                    "arm": name,
                    "due": due,
                    "assessed": assessed,
                    "missed": missed_n,
                    "withdrawn": withdrawn,
                    "lost": lost,
                    "not_yet_due": int(counts.get("not yet due", 0)),
                    "completeness": assessed / due if due else None,
                }
            )
    return pd.DataFrame(out, columns=columns)


def site_fidelity_outcomes(
    people: pd.DataFrame,
    outcomes: pd.DataFrame,
    reviews: pd.DataFrame,
    *,
    outcome: str,
    visit: str,
) -> pd.DataFrame:
    """Per site with intervention-arm participants: the latest fidelity review's consensus
    total (``reviews``: site, review_date, total, band), and the intervention arm's outcome at
    ``visit`` (the share for a yes/no outcome, the mean otherwise) with how many it rests on.
    """
    columns = [
        "site",
        "review_date",
        "fidelity_total",
        "band",
        "randomised",
        "assessed",
        "outcome",
    ]
    treated = people[~people["is_control"].astype(bool)]
    if treated.empty:
        return pd.DataFrame(columns=columns)
    latest = (
        reviews.sort_values(["site", "review_date"]).groupby("site").tail(1).set_index("site")
        if not reviews.empty
        else pd.DataFrame(columns=["review_date", "total", "band"])
    )
    at_visit = outcomes[outcomes["visit"] == visit][["study_id", outcome]].dropna()
    values = treated[["study_id", "site"]].merge(at_visit, on="study_id", how="left")
    rows = []
    for site, group in values.groupby("site", sort=True):
        observed = group[outcome].dropna()
        number = pd.to_numeric(observed.astype(float), errors="coerce").dropna()
        review = latest.loc[site] if site in latest.index else None
        rows.append(
            {
                "site": site,
                "review_date": None if review is None else review["review_date"],
                "fidelity_total": None if review is None else float(review["total"]),
                "band": None if review is None else (review["band"] or None),
                "randomised": len(group),
                "assessed": len(number),
                "outcome": float(number.mean()) if len(number) else None,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def spearman(frame: pd.DataFrame) -> tuple[float, int] | None:
    """Spearman's rank correlation of fidelity and outcome over sites with both, and how many
    sites; None below four sites or without variation."""
    both = frame.dropna(subset=["fidelity_total", "outcome"])
    if len(both) < 4 or both["fidelity_total"].nunique() < 2 or both["outcome"].nunique() < 2:
        return None
    rho = stats.spearmanr(both["fidelity_total"], both["outcome"]).statistic
    return float(rho), len(both)


def fidelity_outcome_svg(frame: pd.DataFrame, *, ylabel: str, proportion: bool) -> str:
    """Scatter of sites: fidelity total (x) against the intervention arm's outcome (y); the
    marker's area grows with the number assessed, and each point is labelled with its site."""
    both = frame.dropna(subset=["fidelity_total", "outcome"])
    figure = MplFigure(figsize=(6, 3.8))
    axes = figure.add_axes((0.12, 0.15, 0.83, 0.8))
    sizes = 20 + 180 * both["assessed"] / max(float(both["assessed"].max()), 1.0)
    axes.scatter(
        both["fidelity_total"],
        both["outcome"],
        s=sizes.to_numpy(),
        color=ACCENT,
        alpha=0.75,
        edgecolors="white",
    )
    for x, y, site in zip(both["fidelity_total"], both["outcome"], both["site"], strict=True):
        axes.annotate(str(site), (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8)
    if proportion:
        top = float(np.nanmax(both["outcome"])) if len(both) else 1.0
        axes.set_ylim(0, min(1.0, top * 1.2 + 0.05))
    axes.set_xlabel(_("Latest fidelity total (consensus)"))
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return to_svg(figure)

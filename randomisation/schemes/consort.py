"""A scheme described in words: the settings in plain language, and the randomisation paragraphs
of a trial report answering CONSORT 2025 items 9 (allocation ratio), 17a (who generated the
sequence and how), 17b (type of randomisation and any restriction), 18 (the mechanism that
implemented and concealed it) and 19 (whether those enrolling and assigning had access to it).

Arms appear by code only, so the text can be shown to blinded users and published as it is.
"""

from __future__ import annotations

import importlib.metadata
from decimal import Decimal

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from randomisation.schemes.models import Scheme
from trial.models import Trial


def system_name() -> str:
    """The software that generated the sequence, with its version, for the report."""
    try:
        version = importlib.metadata.version("worktrials")
    except importlib.metadata.PackageNotFoundError:
        return "worktrials"
    return f"worktrials {version}"


def _join(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c" (translated "and")."""
    if len(items) <= 1:
        return "".join(items)
    return _("%(items)s and %(last)s") % {"items": ", ".join(items[:-1]), "last": items[-1]}


def _number(value: float | Decimal) -> str:
    """A weight or share without trailing zeros: 1, 0.5, 2.25."""
    return f"{Decimal(str(value)).normalize():f}"


def _percent(value: float | Decimal) -> str:
    return _number(Decimal(str(value)) * 100) + " %"


def _labels(trial: Trial) -> dict[str, str]:
    labels = {"site": _("site (NAV office)")}
    for covariate in trial.covariates.all():
        labels[covariate.key] = covariate.label
    return labels


def factor_label(trial: Trial, key: str, labels: dict[str, str] | None = None) -> str:
    return (labels or _labels(trial)).get(key, key)


def site_field_label(key: str) -> str:
    if key == "region":
        return _("region")
    if key == "municipality_number":
        return _("municipality")
    return key


def ratio(trial: Trial) -> str:
    """The allocation ratio by arm code, e.g. ``A:B = 2:1``."""
    arms = list(trial.arms.order_by("code"))
    if not arms:
        return "–"
    codes = ":".join(arm.code for arm in arms)
    weights = ":".join(str(arm.allocation_weight) for arm in arms)
    return f"{codes} = {weights}"


def _minimisation_factors(scheme: Scheme, labels: dict[str, str]) -> str:
    return _join(
        [
            _("%(factor)s (weight %(weight)s)")
            % {
                "factor": labels.get(item["factor"], item["factor"]),
                "weight": _number(item["weight"]),
            }
            for item in scheme.minimisation_factors
        ]
    )


def scheme_facts(scheme: Scheme) -> list[tuple[str, str]]:
    """The scheme's settings as (label, value) pairs in plain words, only those its method uses."""
    trial = scheme.trial
    labels = _labels(trial)
    facts: list[tuple[str, str]] = [
        (_("Method"), scheme.get_method_display()),
        (_("Allocation ratio"), ratio(trial)),
    ]
    method = scheme.method
    if method == Scheme.Method.BLOCKS:
        facts.append(
            (
                _("Block sizes"),
                ", ".join(map(str, scheme.block_sizes)) or "–",
            )
        )
        factors = [labels.get(f, f) for f in scheme.strata_factors]
        facts.append((_("Stratified by"), _join(factors) if factors else _("not stratified")))
    elif method == Scheme.Method.MINIMISATION:
        facts += [
            (_("Minimisation factors"), _minimisation_factors(scheme, labels) or "–"),
            (_("Probability of the minimising arm"), _number(scheme.p_best)),
            (_("Imbalance measure"), scheme.get_imbalance_measure_display()),
        ]
    if scheme.is_cluster:
        if method in (Scheme.Method.CLUSTER_STRATIFIED, Scheme.Method.STEPPED_WEDGE):
            facts.append(
                (
                    _("Sites stratified by"),
                    site_field_label(scheme.site_strata_field)
                    if scheme.site_strata_field
                    else _("not stratified"),
                )
            )
        if method == Scheme.Method.CLUSTER_PAIRS:
            facts.append(
                (_("Site pairs"), "; ".join(" + ".join(pair) for pair in scheme.site_pairs) or "–")
            )
        if method == Scheme.Method.CLUSTER_CONSTRAINED:
            facts += [
                (_("Balanced on"), ", ".join(scheme.constraint_covariates) or "–"),
                (_("Best share of candidate allocations kept"), _percent(scheme.constraint_cutoff)),
            ]
        if scheme.site_covariates:
            names = sorted({n for values in scheme.site_covariates.values() for n in values})
            facts.append(
                (
                    _("Site covariates"),
                    _("%(names)s for %(count)s sites")
                    % {"names": ", ".join(names), "count": len(scheme.site_covariates)},
                )
            )
        if method == Scheme.Method.STEPPED_WEDGE:
            facts += [
                (_("Steps"), str(scheme.steps or "–")),
                (
                    _("First crossover"),
                    scheme.first_step_on.isoformat() if scheme.first_step_on else "–",
                ),
                (_("Months between steps"), str(scheme.step_length_months or "–")),
            ]
    return facts


# --- the report's paragraphs -------------------------------------------------------------


def randomisation_text(scheme: Scheme) -> list[str]:
    """Paragraphs for the methods section of a trial report (CONSORT 2025 items 9, 17a, 17b,
    18 and 19). For a draft the text says what will happen when the scheme is locked."""
    trial = scheme.trial
    labels = _labels(trial)
    return [
        _sequence_generation(scheme),
        _restriction(scheme, labels),
        _ratio(trial),
        _concealment(scheme),
    ]


def _sequence_generation(scheme: Scheme) -> str:
    values = {"system": system_name(), "version": scheme.version}
    if scheme.is_locked and scheme.locked_at:
        values["date"] = date_format(timezone.localtime(scheme.locked_at).date(), "Y-m-d")
        return (
            _(
                "The random allocation sequence was computer-generated by %(system)s, the "
                "trial's central randomisation system, from a cryptographically secure random "
                "seed of 256 bits drawn when the randomisation scheme (version %(version)s) was "
                "locked on %(date)s. Every allocation is derived from this seed by HMAC-SHA256, "
                "so nobody without the seed could predict the sequence, and anyone given the "
                "seed afterwards can reproduce it."
            )
            % values
        )
    return (
        _(
            "The random allocation sequence will be computer-generated by %(system)s, the "
            "trial's central randomisation system, from a cryptographically secure random seed "
            "of 256 bits drawn when the randomisation scheme (version %(version)s, still a "
            "draft) is locked. Every allocation is derived from this seed by HMAC-SHA256, so "
            "nobody without the seed can predict the sequence, and anyone given the seed "
            "afterwards can reproduce it."
        )
        % values
    )


def _restriction(scheme: Scheme, labels: dict[str, str]) -> str:
    method = scheme.method
    if method == Scheme.Method.SIMPLE:
        return _(
            "Participants were randomised individually by simple (unrestricted) randomisation: "
            "each allocation was drawn independently with probabilities given by the "
            "allocation ratio, without blocking or stratification."
        )
    if method == Scheme.Method.BLOCKS:
        sizes = _join([str(size) for size in scheme.block_sizes])
        factors = [labels.get(f, f) for f in scheme.strata_factors]
        if factors:
            strata = _(
                "Randomisation was stratified by %(factors)s, with a separate list for "
                "each stratum."
            ) % {"factors": _join(factors)}
        else:
            strata = _("Randomisation was not stratified.")
        return _(
            "Participants were randomised individually in permuted blocks of sizes "
            "%(sizes)s; the size of each block was chosen at random from these, so that "
            "the end of a block was hard to foresee. %(strata)s"
        ) % {"sizes": sizes, "strata": strata}
    if method == Scheme.Method.MINIMISATION:
        measure = _("range") if scheme.imbalance_measure == Scheme.Measure.RANGE else _("variance")
        return _(
            "Participants were allocated by minimisation (Pocock and Simon) on %(factors)s. For "
            "each arm the imbalance that would result if the participant were allocated to it "
            "was measured as the %(measure)s of the arm totals within the participant's level "
            "of each factor (divided by the arms' allocation weights), and summed with the "
            "factor weights. As a random element, the arm with the smallest imbalance was "
            "allocated with probability %(p_best)s and one of the other arms otherwise; when "
            "all arms scored the same, the arm was drawn at random by the allocation ratio."
        ) % {
            "factors": _minimisation_factors(scheme, labels),
            "measure": measure,
            "p_best": _number(scheme.p_best),
        }
    return _cluster_restriction(scheme)


def _cluster_restriction(scheme: Scheme) -> str:
    method = scheme.method
    sites = scheme.trial.sites.count()
    unit = _(
        "Sites (NAV offices) were the unit of randomisation: %(sites)s sites were randomised "
        "at once by the system, and participants took their site's allocation."
    ) % {"sites": sites}
    if method == Scheme.Method.CLUSTER_STRATIFIED:
        if scheme.site_strata_field:
            detail = _(
                "The arms were randomly permuted among the sites within strata defined by "
                "%(field)s."
            ) % {"field": site_field_label(scheme.site_strata_field)}
        else:
            detail = _("The arms were randomly permuted among the sites, without strata.")
    elif method == Scheme.Method.CLUSTER_PAIRS:
        detail = _(
            "Sites were matched in %(count)s pairs before randomisation, and one site of each "
            "pair was randomly allocated to each arm."
        ) % {"count": len(scheme.site_pairs)}
    elif method == Scheme.Method.CLUSTER_CONSTRAINED:
        detail = _(
            "Covariate-constrained randomisation was used: the possible allocations of the "
            "sites (all of them, or a random sample of 50 000 when there were more) were scored "
            "for balance on %(covariates)s with the standardised squared-difference (l2) score, "
            "the best-balanced %(share)s were kept, and one of them was chosen at random."
        ) % {
            "covariates": _join(list(scheme.constraint_covariates)),
            "share": _percent(scheme.constraint_cutoff),
        }
    else:
        strata = (
            _(" The order was randomised within strata defined by %(field)s.")
            % {"field": site_field_label(scheme.site_strata_field)}
            if scheme.site_strata_field
            else ""
        )
        detail = _(
            "In this stepped-wedge design all sites started in the control condition and "
            "crossed over to the intervention in a random order, in %(steps)s steps: the first "
            "on %(first)s and then every %(months)s months.%(strata)s"
        ) % {
            "steps": scheme.steps or "–",
            "first": scheme.first_step_on.isoformat() if scheme.first_step_on else "–",
            "months": scheme.step_length_months or "–",
            "strata": strata,
        }
    return f"{unit} {detail}"


def _ratio(trial: Trial) -> str:
    arms = list(trial.arms.order_by("code"))
    return _("The allocation ratio was %(ratio)s (%(arms)s).") % {
        "ratio": ":".join(str(arm.allocation_weight) for arm in arms) or "–",
        "arms": ", ".join(arm.code for arm in arms) or "–",
    }


def _concealment(scheme: Scheme) -> str:
    if scheme.is_cluster:
        mechanism = _(
            "The sites were allocated centrally, all at once, by the web-based randomisation "
            "system once they had been recruited to the trial; no site could be allocated "
            "before the others."
        )
        access = _(
            "The seed was stored encrypted and was not visible to anyone taking part in the "
            "trial, so no allocation could be known before it was made. Because whole sites "
            "were allocated, the staff who later enrolled participants knew their site's "
            "allocation."
        )
    else:
        mechanism = _(
            "The sequence was implemented by central, web-based randomisation: a participant "
            "was randomised in the system only after enrolment, consent and baseline data had "
            "been recorded, and the allocation was revealed only at that moment."
        )
        if scheme.method == Scheme.Method.BLOCKS:
            access = _(
                "The pre-generated allocation lists were sealed in the database and were not "
                "visible to the staff who enrolled participants or assigned them to "
                "interventions; only a designated unblinded statistician could view them."
            )
        else:
            access = _(
                "The seed from which the allocations were derived was stored encrypted and was "
                "not visible to the staff who enrolled participants or assigned them to "
                "interventions; they learned each allocation only once it had been made."
            )
    if scheme.is_locked and scheme.commitment_hash:
        commitment = _(
            "When the scheme was locked, a SHA-256 commitment hash over its settings, its "
            "initial lists and the seed was recorded for publication (%(hash)s), so that the "
            "sequence can later be shown not to have been changed; every allocation is also "
            "chained by hash to the one before it."
        ) % {"hash": scheme.commitment_hash}
    else:
        commitment = _(
            "When the scheme is locked, a SHA-256 commitment hash of its settings, its initial "
            "lists and the seed is recorded for publication, so that the sequence can later be "
            "shown not to have been changed; every allocation is also chained by hash to the "
            "one before it."
        )
    return f"{mechanism} {access} {commitment}"

"""What an analysis plan may name, and how the plan pages describe it: the outcomes,
covariates, subgroups and time points a trial offers (from its data dictionary, covariates,
visits and register states), a variable's kind and the models the effect report fits for it.

Read by the plan's rules (``reports.services.check_plan``), its forms and pages, and the report's
labels (``reports.sections.base.report_names``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reports import registers
from reports import variables as dictionary
from trial.models import CovariateDefinition, Trial

DESIGN_COVARIATES = {"site": gettext_lazy("Site (NAV office)"), "stratum": gettext_lazy("Stratum")}


def kind_label(kind: str) -> str:
    """A variable's kind as the plan page names it."""
    labels = {
        "binary": _("yes/no"),
        "continuous": _("continuous"),
        "count": _("count"),
        "ordinal": _("ordinal"),
        "score": _("scale score"),
        "categorical": _("categorical"),
        "multi": _("multiple choice"),
        "date": _("date"),
        "text": _("free text"),
        "occupation": _("occupation code"),
    }
    return labels.get(kind, kind)


def model_text(kind: str, design: str = "individual") -> str:
    """The models the effect report fits for an outcome of this kind: by kind under
    individual randomisation; GEE in cluster and stepped-wedge trials."""
    if design != "individual":
        if kind == "binary":
            return _(
                "odds ratio by GEE with an exchangeable correlation within sites and the "
                "bias-reduced sandwich covariance, unadjusted and adjusted"
            )
        return _(
            "difference in means by GEE with an exchangeable correlation within sites and the "
            "bias-reduced sandwich covariance, unadjusted and adjusted"
        )
    ancova = _(
        "difference in means (Welch t test) and, with covariates, ANCOVA with HC3 robust "
        "standard errors"
    )
    texts = {
        "binary": _(
            "risk difference, risk ratio and odds ratio (Wald 95% CIs) and, with covariates, "
            "an adjusted odds ratio from logistic regression"
        ),
        "continuous": ancova,
        "score": ancova,
        "count": _(
            "%(ancova)s; and a ratio of means (rate ratio) from Poisson regression with robust "
            "(sandwich) standard errors, adjusted for the covariates"
        )
        % {"ancova": ancova},
        "ordinal": _(
            "%(ancova)s on the codes as numbers; and a proportional-odds (ordered logistic) "
            "odds ratio of a higher category, adjusted for the covariates"
        )
        % {"ancova": ancova},
    }
    return texts.get(kind, "")


def register_model_text(name: str, design: str = "individual") -> str:
    """The models the effect report fits for a register endpoint (see reports.registers)."""
    endpoint = registers.parse(name)
    if endpoint is None:
        return ""
    if endpoint.family == registers.TIME_TO_FIRST:
        if design != "individual":
            return _(
                "Kaplan–Meier curves from register dates, a cluster-adjusted log-rank test and "
                "a hazard ratio from Cox regression with the cluster-robust covariance"
            )
        return _(
            "Kaplan–Meier curves from register dates, the log-rank test and a hazard ratio "
            "from Cox regression"
        )
    if endpoint.family == registers.IN_STATE_AT:
        return model_text("binary", design)
    if design != "individual":
        return _(
            "difference in mean months by least squares with the CR2 cluster-robust "
            "covariance and a t reference with K − 2 degrees of freedom, unadjusted and adjusted"
        )
    return model_text("continuous", design)


def _choice_label(variable: dictionary.Variable) -> str:
    return f"{dictionary.label_of(variable)} ({variable.name})"


Found = list[dictionary.Variable] | None
"""The trial's dictionary when the caller has read it already (read again when None)."""


def outcome_choices(trial: Trial, found: Found = None) -> list[tuple[str, str]]:
    """Variables a plan may name as an outcome: yes/no, numbers, ordinal choices and scores;
    then the register endpoints of the trial's state alphabet (reports.registers)."""
    found = dictionary.variables(trial) if found is None else found
    return [
        (v.name, _choice_label(v))
        for v in found
        if dictionary.kind_of(v) in dictionary.OUTCOME_KINDS
    ] + registers.choices(trial)


def baseline_choices(
    trial: Trial, kinds: frozenset[str], found: Found = None
) -> list[tuple[str, str]]:
    """``<name>@baseline`` keys of the variables of these kinds asked at the trial's visit 0
    months from randomisation (none without such a visit)."""
    visit = dictionary.baseline_visit(trial)
    if visit is None:
        return []
    found = dictionary.variables(trial) if found is None else found
    return [
        (
            dictionary.baseline_key(v.name),
            _("%(label)s at baseline (%(name)s)")
            % {"label": dictionary.label_of(v), "name": v.name},
        )
        for v in dictionary.at_baseline(found, visit)
        if dictionary.kind_of(v) in kinds
    ]


def covariate_choices(trial: Trial, found: Found = None) -> list[tuple[str, str]]:
    """Design covariates (site, stratum), the trial's baseline covariates, and the baseline
    value of any item or score (``<name>@baseline``)."""
    return (
        [(key, str(label)) for key, label in DESIGN_COVARIATES.items()]
        + [(c.key, c.label) for c in trial.covariates.all()]
        + baseline_choices(trial, dictionary.COVARIATE_KINDS, found)
    )


def subgroup_choices(trial: Trial, found: Found = None) -> list[tuple[str, str]]:
    """Subgroups must be categorical: site, choice and yes/no covariates, and the baseline
    value of a yes/no or choice item."""
    categorical = (CovariateDefinition.Kind.CHOICE, CovariateDefinition.Kind.BOOLEAN)
    return (
        [("site", str(DESIGN_COVARIATES["site"]))]
        + [(c.key, c.label) for c in trial.covariates.all() if c.kind in categorical]
        + baseline_choices(trial, dictionary.SUBGROUP_KINDS, found)
    )


def time_point_choices(trial: Trial) -> list[tuple[str, str]]:
    return [(v.code, v.label) for v in trial.visit_definitions.order_by("offset_months")]

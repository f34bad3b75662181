"""Allocation algorithms as pure functions: no ORM, no request, no clock.

Every random choice comes from a :class:`Stream`, a counter-mode HMAC-SHA256 generator keyed by
the scheme's secret seed (256 bits from ``secrets``) and labelled by what it decides ("stratum
OSLA|sex=f, block 7"). So the whole allocation sequence is fixed the moment the seed is drawn:
nobody without the seed can predict it, anyone given the seed afterwards can recompute every list
and every minimisation draw, and a stratum that runs out of slots is extended with blocks that
were just as determined as the first ones (the published commitment covers them too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")

ArmWeights = Sequence[tuple[str, int]]
"""(arm code, allocation weight) in a fixed order, e.g. [("A", 1), ("B", 1)]."""


class Stream:
    """Deterministic, unpredictable random numbers: HMAC-SHA256(seed, label/counter)."""

    def __init__(self, seed: bytes, label: str) -> None:
        if len(seed) < 16:
            raise ValueError("seed must be at least 128 bits")
        self._seed = seed
        self._label = label.encode()
        self._counter = 0
        self._pool = b""

    def _bytes(self, n: int) -> bytes:
        while len(self._pool) < n:
            message = self._label + b"/" + self._counter.to_bytes(8, "big")
            self._pool += hmac.new(self._seed, message, hashlib.sha256).digest()
            self._counter += 1
        out, self._pool = self._pool[:n], self._pool[n:]
        return out

    def randbelow(self, n: int) -> int:
        """Uniform integer in [0, n), without modulo bias (rejection sampling)."""
        if n <= 0:
            raise ValueError("n must be positive")
        k = max(1, (n - 1).bit_length())
        nbytes = (k + 7) // 8
        while True:
            value = int.from_bytes(self._bytes(nbytes), "big") >> (nbytes * 8 - k)
            if value < n:
                return value

    def random(self) -> float:
        """Uniform float in [0, 1) with 53 random bits."""
        return (int.from_bytes(self._bytes(7), "big") >> 3) / float(1 << 53)

    def choice(self, items: Sequence[T]) -> T:
        return items[self.randbelow(len(items))]

    def shuffle(self, items: list[T]) -> None:
        """Fisher–Yates, in place."""
        for i in range(len(items) - 1, 0, -1):
            j = self.randbelow(i + 1)
            items[i], items[j] = items[j], items[i]

    def weighted(self, arms: ArmWeights) -> str:
        """One arm code, drawn with probability proportional to its weight."""
        total = sum(weight for _, weight in arms)
        point = self.randbelow(total)
        for code, weight in arms:
            if point < weight:
                return code
            point -= weight
        raise AssertionError("unreachable")


def ratio_unit(arms: ArmWeights) -> int:
    """The smallest block size that honours the allocation ratio (sum of reduced weights)."""
    weights = [weight for _, weight in arms]
    divisor = math.gcd(*weights)
    return sum(weight // divisor for weight in weights)


def check_block_sizes(arms: ArmWeights, block_sizes: Sequence[int]) -> list[int]:
    """Block sizes that are not a multiple of the ratio unit; empty when all are valid."""
    unit = ratio_unit(arms)
    return [size for size in block_sizes if size <= 0 or size % unit]


def block(stream: Stream, arms: ArmWeights, size: int) -> list[str]:
    """One permuted block: each arm appears in proportion to its weight, in random order."""
    weights = [weight for _, weight in arms]
    divisor = math.gcd(*weights)
    unit = sum(weight // divisor for weight in weights)
    if size % unit:
        raise ValueError(f"block size {size} is not a multiple of {unit}")
    repeats = size // unit
    codes = [code for code, weight in arms for _ in range(weight // divisor * repeats)]
    stream.shuffle(codes)
    return codes


@dataclass(frozen=True)
class Block:
    number: int
    size: int
    arms: tuple[str, ...]


def blocks(
    seed: bytes,
    stratum: str,
    arms: ArmWeights,
    block_sizes: Sequence[int],
    *,
    start: int = 1,
    count: int = 1,
) -> list[Block]:
    """Blocks ``start`` .. ``start + count - 1`` of a stratum's list.

    Block *n* depends only on the seed, the stratum and *n*, so generating blocks 1–10 now and
    11–20 later gives the same list as generating 1–20 at once.
    """
    result = []
    for number in range(start, start + count):
        stream = Stream(seed, f"block|{stratum}|{number}")
        size = stream.choice(list(block_sizes))
        result.append(Block(number, size, tuple(block(stream, arms, size))))
    return result


def simple(seed: bytes, sequence: int, arms: ArmWeights) -> str:
    """Simple (unrestricted) randomisation of allocation number ``sequence``."""
    return Stream(seed, f"simple|{sequence}").weighted(arms)


Measure = Literal["range", "variance"]


@dataclass
class MinimisationResult:
    arm: str
    scores: dict[str, float]
    preferred: list[str]
    draw: float
    random_element_used: bool
    details: dict[str, object] = field(default_factory=dict)


def imbalance(values: Sequence[float], measure: Measure) -> float:
    if measure == "range":
        return max(values) - min(values)
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def minimise(
    seed: bytes,
    sequence: int,
    arms: ArmWeights,
    counts: Mapping[str, Mapping[str, int]],
    factor_weights: Mapping[str, float],
    *,
    p_best: float,
    measure: Measure = "range",
) -> MinimisationResult:
    """Pocock–Simon minimisation for allocation number ``sequence``.

    ``counts[factor][arm]`` is how many earlier participants sharing the new participant's level
    of ``factor`` went to each arm. For each candidate arm the counts are updated as if the new
    participant went there, divided by the arm's weight (so a 2:1 ratio is the balanced state),
    the imbalance across arms is measured (range or variance) and summed over factors with
    their weights. The arm(s) with the smallest total are preferred: one of them is chosen with
    probability ``p_best``, otherwise one of the other arms. When every arm scores the same,
    the arm is drawn by the allocation ratio.
    """
    if not 0.5 <= p_best <= 1.0:
        raise ValueError("p_best must be between 0.5 and 1")
    codes = [code for code, _ in arms]
    weight_of = dict(arms)
    scores: dict[str, float] = {}
    for candidate in codes:
        total = 0.0
        for factor, factor_weight in factor_weights.items():
            level_counts = counts.get(factor, {})
            adjusted = [
                (level_counts.get(code, 0) + (1 if code == candidate else 0)) / weight_of[code]
                for code in codes
            ]
            total += factor_weight * imbalance(adjusted, measure)
        scores[candidate] = round(total, 12)
    stream = Stream(seed, f"minimise|{sequence}")
    draw = stream.random()
    best = min(scores.values())
    preferred = [code for code in codes if scores[code] == best]
    others = [code for code in codes if scores[code] != best]
    if not others:
        arm = stream.weighted(arms)
        return MinimisationResult(arm, scores, preferred, draw, random_element_used=False)
    if draw < p_best:
        arm = stream.choice(preferred)
        return MinimisationResult(arm, scores, preferred, draw, random_element_used=False)
    arm = stream.choice(others)
    return MinimisationResult(arm, scores, preferred, draw, random_element_used=True)


def commitment(payload: Mapping[str, object]) -> str:
    """SHA-256 of a canonical JSON rendering: the same content always gives the same hash."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def canonical_json(payload: object) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def stratum_key(factors: Sequence[str], levels: Mapping[str, object]) -> str:
    """A stratum's name from its factor levels (``site=OSLA|sex=f``), or ``all``."""
    if not factors:
        return "all"
    return "|".join(f"{factor}={levels[factor]}" for factor in factors)


@dataclass(frozen=True)
class SchemeSpec:
    """What an individual-level scheme needs to allocate; built from the stored scheme."""

    method: Literal["simple", "blocks", "minimisation"]
    arms: tuple[tuple[str, int], ...]
    block_sizes: tuple[int, ...] = ()
    strata_factors: tuple[str, ...] = ()
    minimisation_factors: tuple[tuple[str, float], ...] = ()
    p_best: float = 0.8
    measure: Measure = "range"


class Allocator:
    """The scheme run in memory, for simulation and for checking the stored log.

    It calls the same functions as the database service, in the same order, so given the same
    seed and the same participants it reproduces the trial's allocations exactly.
    """

    def __init__(self, spec: SchemeSpec, seed: bytes) -> None:
        self.spec = spec
        self.seed = seed
        self.sequence = 0
        self._lists: dict[str, list[str]] = {}
        self._blocks_made: dict[str, int] = {}
        self._counts: dict[str, dict[str, dict[str, int]]] = {}

    def allocate(self, levels: Mapping[str, object]) -> str:
        spec = self.spec
        self.sequence += 1
        if spec.method == "simple":
            arm = simple(self.seed, self.sequence, spec.arms)
        elif spec.method == "blocks":
            key = stratum_key(spec.strata_factors, levels)
            pending = self._lists.setdefault(key, [])
            if not pending:
                made = self._blocks_made.get(key, 0)
                (new,) = blocks(self.seed, key, spec.arms, spec.block_sizes, start=made + 1)
                self._blocks_made[key] = made + 1
                pending.extend(new.arms)
            arm = pending.pop(0)
        else:
            counts = {
                factor: self._counts.get(factor, {}).get(str(levels[factor]), {})
                for factor, _ in spec.minimisation_factors
            }
            arm = minimise(
                self.seed,
                self.sequence,
                spec.arms,
                counts,
                dict(spec.minimisation_factors),
                p_best=spec.p_best,
                measure=spec.measure,
            ).arm
        for factor, _ in spec.minimisation_factors:
            by_level = self._counts.setdefault(factor, {})
            by_arm = by_level.setdefault(str(levels[factor]), {})
            by_arm[arm] = by_arm.get(arm, 0) + 1
        return arm

"""Where new sites should go: location models on sparse coverage sets, with proven gaps.

Public API: :func:`mclp`, :func:`lscp`, :func:`capacitated_mclp`, :func:`joint_mclp` (with
:class:`JointCategory`), :func:`network_candidates` / :func:`candidate_sites`, and the
:class:`OptimizeResult` they return.
"""

from planner.optimize.candidates import candidate_sites, network_candidates
from planner.optimize.models import JointCategory, capacitated_mclp, joint_mclp, lscp, mclp
from planner.optimize.result import OptimizeResult

__all__ = [
    "JointCategory",
    "OptimizeResult",
    "candidate_sites",
    "capacitated_mclp",
    "joint_mclp",
    "lscp",
    "mclp",
    "network_candidates",
]

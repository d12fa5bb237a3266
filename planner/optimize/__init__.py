"""Where new sites should go: location models on sparse coverage sets, with proven gaps.

Public API: :func:`mclp`, :func:`lscp`, :func:`capacitated_mclp`, :func:`joint_mclp` (with
:class:`JointCategory`), :func:`network_candidates` / :func:`candidate_sites`, and the
:class:`OptimizeResult` they return.
"""

from planner.optimize.candidates import candidate_sites, network_candidates
from planner.optimize.capacitated import capacitated_mclp
from planner.optimize.maxcover import JointCategory, joint_mclp, mclp
from planner.optimize.result import OptimizeResult
from planner.optimize.setcover import lscp

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

"""Workflows over the mesh: camera-frame processing and alert escalation.

A workflow is a flow (a generator yielding calls and events, see
``model.py``) registered by name with its parameters (``registry.py``);
``ServiceOrchestrator`` runs them through a mesh client. A new workflow is
one module that calls ``register`` and is imported here.
"""

from meshctl.orchestrator.camera_frame import camera_frame_flow
from meshctl.orchestrator.escalation import EscalationPolicy, alert_escalation_flow
from meshctl.orchestrator.model import Outcome, StepResult, WorkflowResult
from meshctl.orchestrator.orchestrator import ServiceOrchestrator
from meshctl.orchestrator.registry import Parameter, WorkflowSpec, get_workflow, register, workflows

__all__ = [
    "EscalationPolicy",
    "Outcome",
    "Parameter",
    "ServiceOrchestrator",
    "StepResult",
    "WorkflowResult",
    "WorkflowSpec",
    "alert_escalation_flow",
    "camera_frame_flow",
    "get_workflow",
    "register",
    "workflows",
]

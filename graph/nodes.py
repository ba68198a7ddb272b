"""Graph nodes: small functions over state that call the plain logic in critics/ and prompts/."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from critics.context import screen
from critics.critic import critique, describe_error, failed_result
from critics.findings import Finding, about_the_line
from critics.gate import decide_route
from critics.prospect import Prospect
from critics.rules import run_rules
from graph.human import apply_response, review_request
from graph.models import critic_for, drafter_for, thread_scope
from graph.state import Context, State
from prompts.loader import render, rendered_hash


def limits(ctx: Context) -> dict[str, object]:
    """The values the policy owns that prompts name (never write out): the line's maximum length."""
    return {"max_length": ctx.policy.rules.max_length}


def _thread(runtime: Runtime[Context]) -> str | None:
    info = getattr(runtime, "execution_info", None)
    return getattr(info, "thread_id", None)


def draft(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the drafter for a first line (with the reviewer's feedback when regenerating)."""
    ctx = runtime.context
    prompt = ctx.drafter_template()
    prospect = Prospect.model_validate(state["prospect"])
    # The reviewer's note and the earlier draft reach the prompt too: screened like the record.
    messages = render(prompt, prospect.prompt_fields(), feedback=screen(state.get("feedback") or ""),
                      previous_draft=screen(state.get("draft") or ""), limits=limits(ctx))
    drafter = drafter_for(ctx.drafter)
    with thread_scope(_thread(runtime)):
        line = drafter.complete(messages).strip()
    return {"draft": line, "ai_draft": line, "prompt_version": prompt.version, "prompt_hash": rendered_hash(messages),
            "drafter_model": drafter.model_id, "feedback": "", "decision": None}


def check_rules(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the deterministic rules on the draft."""
    prospect = Prospect.model_validate(state["prospect"])
    return {"findings": [f.model_dump() for f in safe_rules(state["draft"], prospect, runtime.context)]}


def check_critic(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the critic model; a failure becomes a blocking finding rather than an approval."""
    ctx = runtime.context
    prospect = Prospect.model_validate(state["prospect"])
    with thread_scope(_thread(runtime)):
        try:
            critic = critic_for(ctx.critic)
        except Exception as exc:  # noqa: BLE001 - a critic that cannot even be built fails closed too
            result = failed_result(describe_error(exc), ctx.critic.model)
        else:
            result = critique(critic, ctx.critic_template(), state["draft"], prospect, limits=limits(ctx))
    findings = state.get("findings", []) + [f.model_dump() for f in result.findings]
    return {"findings": findings, "confidence": result.confidence, "critic_model": result.model}


def route(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Apply the routing policy: auto-approve, or send to the human checkpoint."""
    findings = [Finding.model_validate(f) for f in state.get("findings", [])]
    policy = runtime.context.policy
    decision = decide_route(findings, state.get("confidence"), policy.route, _thread(runtime) or "")
    return {"route": decision.route, "audit_sample": decision.audit_sample, "reasons": decision.reasons,
            "gate_route": decision.gate_route, "tier": policy.route.tier, "shadow": policy.route.shadow,
            "checks_hash": runtime.context.checks_hash, "threshold": policy.route.confidence_threshold}


def auto_approve(state: State) -> dict[str, Any]:
    """Approve the draft without a human."""
    return {"status": "auto_approved", "final_line": state["draft"]}


def human(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause for a reviewer (Agent Inbox-shaped request); apply their answer when the thread is resumed."""
    ctx = runtime.context
    response = interrupt(review_request(state, ctx.policy.route.max_regenerate_rounds))
    prospect = Prospect.model_validate(state["prospect"])
    return apply_response(state, response, lambda line: edit_rules(line, prospect, ctx),
                          ctx.policy.route.max_regenerate_rounds)


def edit_rules(line: str, prospect: Prospect, ctx: Context) -> list[Finding]:
    """The rules on a reviewer's edit: judged on the line alone, since the record's own flag (an instruction in
    it) was on screen with the item and is acknowledged by the decision."""
    return about_the_line(safe_rules(line, prospect, ctx))


def safe_rules(line: str, prospect: Prospect, ctx: Context) -> list[Finding]:
    """Run the rules; a crashing rule becomes a blocking finding, so a broken check never approves a line."""
    try:
        return run_rules(line, prospect, ctx.policy.rules)
    except Exception as exc:  # noqa: BLE001 - fail closed
        return [Finding(source="system", code="other.rules_failed", category="other", severity="high",
                        message=f"The rules could not check this line ({type(exc).__name__}: {exc}).")]

"""The router the gateway asks, for each chat request, who answers it: a task's specialist or the LLM.

For a request: place it in a task (`placement`), read the task's live route (`routes`), then by the route's mode:
`off` or no route, the LLM; `shadow`, the LLM, and the specialist answers the same request off the request path so
its agreement with the LLM is recorded; `canary`, the specialist is asked for a `share` of the calls; `on`, for all
of them. Asked, the specialist answers within the time budget; its answer is used when its confidence clears the
task's calibrated threshold and it validates (`answers`); a specialist that raises, runs out of time or gives an
invalid answer is a *fallback*: the LLM answers, and the reason is counted. A call the specialist is not confident
on goes to the LLM too (route `llm`, its confidence recorded): that is the calibrated deferral, not a failure.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from llm2slm.common.schema import Message, RouteInfo, Tool
from llm2slm.discovery.catalogue import OUTLIER
from llm2slm.evaluation.agreement import answers_agree
from llm2slm.serving.answers import InvalidAnswer, assistant_message
from llm2slm.serving.inference import InferenceWorker, ShadowJob, ShadowQueue
from llm2slm.serving.placement import Placement, Placer, request_record
from llm2slm.serving.routes import LiveRoute, RouteTable

log = logging.getLogger("llm2slm.serving.router")


@dataclass
class Decision:
    """What the router decided before anyone answered; `ask` when the specialist is to try."""

    placement: Placement
    route: LiveRoute | None
    ask: bool
    shadow: bool

    def info(self, route: str, **extra: Any) -> RouteInfo:
        live = self.route
        return RouteInfo.model_construct(
            route=route, task_id=self.placement.task_id, mode=live.mode if live else "off",
            model=live.name if live else None, version=live.version if live else None,
            threshold=live.threshold if live else None, placement_confidence=self.placement.confidence,
            confidence=extra.get("confidence"), fallback_reason=extra.get("fallback_reason"))


@dataclass
class SpecialistAnswer:
    message: dict[str, Any]
    finish: str
    info: RouteInfo
    model: str  # what the response's `model` field names: <registered model>/<version>


@dataclass
class RouteCounts:
    """Plain counters the gateway's /metrics and the route log read (bumped on the event loop only)."""

    calls: Counter = field(default_factory=Counter)  # (task, route) -> calls
    fallbacks: Counter = field(default_factory=Counter)  # (task, reason) -> calls
    shadow: Counter = field(default_factory=Counter)  # (task, "agree" | "disagree" | "error" | "dropped") -> calls


class Router:
    def __init__(self, placer: Placer, table: RouteTable, worker: InferenceWorker, shadow: ShadowQueue,
                 time_budget_s: float, seed: int | None = None):
        self.placer, self.table, self.worker, self.shadow_queue = placer, table, worker, shadow
        self.time_budget_s = time_budget_s
        self.random = random.Random(seed)
        self.counts = RouteCounts()
        self.on_shadow: Any = None  # called with (decision, call id, agree, confidence, error) after a comparison
        self.route_log: Any = None  # a RouteLog: one event per stored call and per shadow comparison
        table.on_refresh = self._reload_placer

    def _reload_placer(self) -> None:
        self.placer = self.placer.reloaded()

    def start(self) -> None:
        self.worker.start()
        self.table.start()

    def stop(self) -> None:
        self.table.stop()
        self.shadow_queue.stop()
        self.worker.stop()
        if self.route_log is not None:
            self.route_log.close()

    def decide(self, messages: list[Message], tools: list[Tool] | None) -> Decision:
        routes = self.table.routes  # read once: this call finishes on these routes
        live = {t for t, r in routes.items() if r.mode != "off"}
        if not live:
            return Decision(Placement(OUTLIER, 1.0, "none"), None, False, False)
        placement = self.placer.place(request_record(messages, tools), live)
        route = routes.get(placement.task_id) if placement.task_id != OUTLIER else None
        if route is None or route.mode == "off":
            return Decision(placement, route, False, False)
        if route.mode == "shadow":
            return Decision(placement, route, False, True)
        if route.threshold is None or route.threshold > 1.0:  # not calibrated, or confident on nothing
            return Decision(placement, route, False, False)
        ask = route.mode == "on" or self.random.random() < route.share
        return Decision(placement, route, ask, False)

    async def answer(self, decision: Decision, row: dict[str, Any],
                     tools: list[Tool] | None) -> SpecialistAnswer | RouteInfo:
        """The specialist's answer, or the RouteInfo of a call that goes to the LLM (not confident, or fallback)."""
        route = decision.route
        assert route is not None and decision.ask
        try:
            future = self.worker.submit(route.specialist, row)
            answer, confidence = await asyncio.wait_for(asyncio.wrap_future(future), self.time_budget_s)
        except asyncio.TimeoutError:
            return self._fallback(decision, "timeout")
        except Exception as exc:  # noqa: BLE001 - any failure of the specialist is the LLM's call to answer
            log.warning("specialist %s raised %s: %s", route.model_label, type(exc).__name__, str(exc)[:200])
            return self._fallback(decision, "error")
        confidence = float(min(1.0, max(0.0, confidence)))
        if route.threshold is None or confidence < route.threshold:
            self.counts.calls[(route.task_id, "llm")] += 1
            return decision.info("llm", confidence=round(confidence, 6))
        try:
            message, finish = assistant_message(route.shape, answer, route.specialist.meta.get("labels"), tools)
        except InvalidAnswer as exc:
            return self._fallback(decision, exc.reason, confidence)
        self.counts.calls[(route.task_id, "specialist")] += 1
        return SpecialistAnswer(message, finish, decision.info("specialist", confidence=round(confidence, 6)),
                                route.model_label)

    def _fallback(self, decision: Decision, reason: str, confidence: float | None = None) -> RouteInfo:
        task = decision.placement.task_id
        self.counts.calls[(task, "fallback")] += 1
        self.counts.fallbacks[(task, reason)] += 1
        return decision.info("fallback", fallback_reason=reason,
                             confidence=None if confidence is None else round(confidence, 6))

    def stored(self, record: Any) -> None:
        """A routed call's record is durable: its event goes to the route log."""
        if self.route_log is not None:
            from llm2slm.serving.route_log import call_event

            self.route_log.append(call_event(record))

    def count_llm(self, decision: Decision) -> None:
        self.counts.calls[(decision.placement.task_id, "llm")] += 1

    def shadow(self, decision: Decision, row: dict[str, Any], llm_answer: str, call_id: str | None) -> None:
        """Compare the specialist with the LLM's answer off the request path (never changes the agent's answer)."""
        route = decision.route
        if route is None or not decision.shadow:
            return
        task = route.task_id
        loop = asyncio.get_running_loop()

        def done(answer: str | None, confidence: float | None, error: Exception | None) -> None:
            agree = None if answer is None else answers_agree(answer, llm_answer)
            try:
                loop.call_soon_threadsafe(self._shadow_done, decision, call_id, agree, confidence, error)
            except RuntimeError:  # the gateway stopped meanwhile: the comparison is lost, nothing else
                pass

        if not self.shadow_queue.offer(ShadowJob(route.specialist, row, llm_answer, done)):
            self.counts.shadow[(task, "dropped")] += 1

    def _shadow_done(self, decision: Decision, call_id: str | None, agree: bool | None, confidence: float | None,
                     error: Exception | None) -> None:
        task = decision.placement.task_id
        self.counts.shadow[(task, "error" if error else "agree" if agree else "disagree")] += 1
        if self.route_log is not None:
            from llm2slm.serving.route_log import shadow_event

            self.route_log.append(shadow_event(decision.info("llm", confidence=confidence), call_id, agree,
                                               None if error is None else type(error).__name__))
        if self.on_shadow is not None:
            self.on_shadow(decision, call_id, agree, confidence, error)

"""The status tables (PS3.2 Annex N form), read from the live status policy, and what each
action does to a job, in words (templates/behaviour.md)."""
from __future__ import annotations

from hcserver.conformance.context import Ctx
from hcserver.conformance.markdown import Doc, Prose, hexcode
from hcserver.conformance.markdown import code as code_span
from hcserver.drivers.base import Action
from hcserver.drivers.dicom import status_policy as sp

words = Prose("behaviour")

SERVICE_STATUS = {"success": "Success", "warning": "Warning", "failure": "Failure",
                  "pending": "Pending", "cancel": "Cancel"}


def behaviour(ctx: Ctx, action: Action, sop: str = "", op: str = "", *, code: int | None = None,
              ending: str | None = "aborted", long: bool = False) -> str:
    """What an action does to the job, in words (``long``: with every detail, once per document).

    ``ending`` is what happens to the association (None: there is none)."""
    action = Action(action)
    if action is Action.OK:
        if code != 0x0000:
            return words("ok.other")
        try:
            return words(f"ok.{sop} {op}")
        except KeyError:
            return words("ok")
    text = words(f"{action.value}.long" if long else action.value, retry_interval=ctx.retry_interval(),
                 retry_cap=ctx.retry_cap(), retry_limit=ctx.retry_limit(), poll=ctx.poll())
    if action is Action.WARN:
        return text
    if ending is None:
        return text[0].upper() + text[1:]
    return f"{words('association', ending=ending)} {text}"


def _setting(key: str, action: Action) -> str:
    """A status_policy entry as written in the configuration: ``"N-ACTION 0xC602" = "retry"``."""
    return code_span(f'"{key}" = "{Action(action).value}"')


def _status_row(ctx: Ctx, sop: str, op: str, code: int, meaning: str, note: str = "") -> list[str]:
    default = sp.decide(sop, op, code)
    key = sp.policy_key(op, code)
    if ctx.printer is not None:
        decision = sp.decide(sop, op, code, ctx.printer.status_policy)
        text = behaviour(ctx, Action(decision.action), sop, op, code=code)
        if decision.overridden:
            text += " " + words("configured", setting=_setting(key, decision.action),
                                default=Action(default.action).value)
    else:
        text = behaviour(ctx, Action(default.action), sop, op, code=code)
        for p in ctx.dicom:
            d = sp.decide(sop, op, code, p.status_policy)
            if d.overridden:
                text += " " + words("configured.for printer", printer=code_span(p.name),
                                    short=words(f"short.{Action(d.action).value}"),
                                    setting=_setting(key, d.action))
    if note:
        text += f" {note}"
    return [SERVICE_STATUS[sp.category_of(code)], meaning, hexcode(code), text]


def _override_codes(ctx: Ctx, op: str) -> set[int]:
    """The codes this configuration's overrides name for ``op`` (keys are normalised)."""
    codes: set[int] = set()
    for p in ctx.printers:
        for key in p.status_policy:
            operation, _, number = key.partition(" ")
            if operation == op:
                codes.add(int(number, 16))
    return codes


def status_table_rows(ctx: Ctx, sop: str, op: str) -> list[list[str]]:
    """The rows of one Annex N table: listed codes, codes handled specially, other codes."""
    order = list(SERVICE_STATUS)
    rows: list[tuple[int, int, int, list[str]]] = []
    listed = set()
    for seq, rule in enumerate(sp.rules_for(sop, op)):
        listed.add(rule.code)
        rows.append((order.index(rule.category), 0, seq, _status_row(ctx, sop, op, rule.code, rule.meaning)))
    # Codes PS3.2 Annex N lists for this operation on another print SOP class that decide()
    # handles otherwise than the per-category rule (e.g. 0xC601 on the film box's N-ACTION).
    elsewhere: dict[int, list[str]] = {}
    for rule in sp.TABLE:
        if rule.operation == op and rule.sop_class != sop and rule.code not in listed:
            names = elsewhere.setdefault(rule.code, [])
            if sp.SOP_CLASS_NAMES[rule.sop_class] not in names:
                names.append(sp.SOP_CLASS_NAMES[rule.sop_class])
    for number in sorted(elsewhere):
        decision = sp.decide(sop, op, number)
        if Action(decision.action) is sp.other_rule(sop, op, decision.category).action:
            continue
        note = words("listed elsewhere", operation=op, sop_classes=" and ".join(elsewhere[number]))
        rows.append((order.index(decision.category), 1, number,
                     _status_row(ctx, sop, op, number, decision.meaning, note)))
        listed.add(number)
    for number in sorted(_override_codes(ctx, op) - listed):
        rows.append((order.index(sp.category_of(number)), 2, number,
                     _status_row(ctx, sop, op, number, sp.meaning_of(number, sop, op))))
    rows.sort(key=lambda r: r[:3])
    out = [r[3] for r in rows]
    for category in ("warning", "failure", "pending", "cancel"):
        action = sp.other_rule(sop, op, category).action
        out.append([SERVICE_STATUS[category], "Other Status Codes", words(f"other codes.{category}"),
                    behaviour(ctx, action, sop, op)])
    return out


def status_table(doc: Doc, ctx: Ctx, sop: str, op: str) -> None:
    annex = sp.ANNEX_N_TABLES.get((sop, op), "")
    doc.table(f"Status codes for {op} of the {sp.SOP_CLASS_NAMES[sop]}"
              + (f" (PS3.2 {annex})" if annex else ""),
              ["Service Status", "Further Meaning", "Status Code", "Behavior"],
              status_table_rows(ctx, sop, op))

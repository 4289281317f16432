"""The wizard's questions: a modal with a title, lines of text and a row of buttons.

Anything that changes nodes, drops the operator's edits or overwrites a file asks here first.
The first button is the safe one (Cancel, Keep deploying) and has the focus, so Enter after a
stray key changes nothing; Escape answers ``"cancel"``. A button may carry a letter that
presses it (``y`` for Deploy, as in the host-key modal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant

from wizard.problems import Problem
from wizard.profile import Profile

CANCEL = "cancel"
NAMES_SHOWN = 12  # per role: the first ones and the last ones, "… N more …" between


@dataclass(frozen=True)
class Choice:
    """One button: what it answers, its label, its look and the letter that presses it."""

    answer: str
    label: str
    variant: ButtonVariant = "default"
    key: str | None = None


@dataclass(frozen=True)
class Line:
    """One paragraph of the question; ``style`` a theme colour such as ``$text-warning``."""

    text: str
    style: str = ""


class ChoiceModal(ModalScreen[str]):
    """Asks; dismisses with the chosen ``Choice.answer`` (``"cancel"`` on Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", f"answer('{CANCEL}')", "Cancel"),
        Binding("left", "app.focus_previous", "Previous", show=False),
        Binding("right", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, title: str, lines: Sequence[Line], choices: Sequence[Choice]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = tuple(lines)
        self.choices = tuple(choices)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.title_text, id="confirm-title", markup=False)
            with VerticalScroll(id="confirm-body"):
                for line in self.lines:
                    yield Static(
                        Content.styled(line.text, line.style) if line.style else Content(line.text)
                    )
            with Horizontal(id="confirm-buttons"):
                for choice in self.choices:
                    label = f"{choice.label} ({choice.key})" if choice.key else choice.label
                    yield Button(label, id=choice.answer, variant=choice.variant, compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#{self.choices[0].answer}", Button).focus()

    def text(self) -> str:
        """Everything the question says, for tests and logs."""
        buttons = "  ".join(c.label for c in self.choices)
        return "\n".join([self.title_text, *(line.text for line in self.lines), buttons])

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

    def on_key(self, event: Key) -> None:
        for choice in self.choices:
            if choice.key is not None and event.key == choice.key:
                event.stop()
                self.dismiss(choice.answer)
                return

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or CANCEL)


# The questions the wizard asks ----------------------------------------------------------------


def name_list(names: Sequence[str], shown: int = NAMES_SHOWN) -> str:
    """Every name when there are few; else the first and last ones and how many lie between."""
    if len(names) <= shown + 2:
        return ", ".join(names)
    head, tail = shown - 3, 3
    hidden = len(names) - head - tail
    return f"{', '.join(names[:head])}, … {hidden} more …, {', '.join(names[-tail:])}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def node_lines(profile: Profile, nodes: Sequence[str]) -> list[Line]:
    """The nodes a run touches, by role, each role's names in a line or two."""
    chosen = set(nodes)
    lines = []
    for title, group in (("Masters", "masters"), ("Workers", "workers"), ("LB nodes", "lb_nodes")):
        names = [n.name for n in getattr(profile, group) if n.name in chosen]
        if names:
            lines.append(Line(f"  {title} ({len(names)}): {name_list(names)}"))
    return lines


def run_question(
    verb: str, profile: Profile, nodes: Sequence[str], warnings: Sequence[Problem], note: str = ""
) -> ChoiceModal:
    """Deploy / Redeploy / Resume: the profile, the strategy, the nodes and every warning."""
    lines = [
        Line(f"Profile:  {profile.name}"),
        Line(f"Strategy: {profile.strategy}"),
        Line(f"Nodes:    {_plural(len(nodes), 'node')} will be changed"),
        *node_lines(profile, nodes),
    ]
    if note:
        lines.append(Line(note))
    if targets := profile.clients.targets():
        lines.append(
            Line(
                f"Clients:  {_plural(len(targets), 'kubeconfig')} on each node repointed to the "
                "load balancer once it verifies",
                "$text-warning",
            )
        )
    if warnings:
        lines.append(Line(f"{_plural(len(warnings), 'warning')}:", "bold $text-warning"))
        lines.extend(Line(f"  {w}", "$text-warning") for w in warnings)
    else:
        lines.append(Line("No validation warnings.", "$text-success"))
    return ChoiceModal(
        f"{verb} {profile.name}?",
        lines,
        (Choice(CANCEL, "Cancel"), Choice("confirm", verb, "warning", "y")),
    )


def overwrite_question(path: object) -> ChoiceModal:
    return ChoiceModal(
        "Overwrite another profile?",
        [Line(f"{path} already exists and is not the file this profile was opened from.")],
        (Choice(CANCEL, "Cancel"), Choice("overwrite", "Overwrite", "warning")),
    )


def unsaved_question(name: str, verb: str = "quit", doing: str = "Quit") -> ChoiceModal:
    """Save, discard or cancel before ``verb`` (quit, open another profile) drops the edits."""
    return ChoiceModal(
        f"{doing} with unsaved changes?",
        [Line(f"The profile {name} has changes that are not saved.")],
        (
            Choice(CANCEL, "Cancel"),
            Choice("discard", f"Discard and {verb}", "error"),
            Choice("save", f"Save and {verb}", "primary"),
        ),
    )


def cancel_question(running: int) -> ChoiceModal:
    """Escape during a deploy: it is cancelled only when the operator says so."""
    lines = [
        Line("Cancelling stops the deploy: no node starts a new step."),
        Line(
            f"{_plural(running, 'node')} will finish or roll back their current step first; "
            "each node ends on its new verified config or its old one."
        ),
    ]
    return ChoiceModal(
        "Cancel the deploy?",
        lines,
        (Choice(CANCEL, "Keep deploying"), Choice("stop", "Cancel the deploy", "error", "y")),
    )


def stop_question(running: int, unsaved: bool) -> ChoiceModal:
    lines = [
        Line("A deploy is running. Quitting stops it: no node starts a new step."),
        Line(
            f"{_plural(running, 'node')} will finish or roll back their current step first; "
            "each node ends on its new verified config or its old one. kubeha quits when "
            "they are done."
        ),
    ]
    if unsaved:
        lines.append(Line("The profile's unsaved changes are lost.", "$text-warning"))
    return ChoiceModal(
        "Stop the deploy and quit?",
        lines,
        (Choice(CANCEL, "Keep deploying"), Choice("stop", "Stop and quit", "error")),
    )


def refusal_notice(text: str) -> ChoiceModal:
    """Why kubeha connects to nothing (the example addresses): the CLI's message, one close."""
    head, *rest = text.splitlines() or [""]
    return ChoiceModal(
        "Refusing to connect",
        [Line(head, "$text-error"), *(Line(line) for line in rest)],
        (Choice(CANCEL, "Close"),),
    )

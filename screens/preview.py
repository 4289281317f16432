"""Step 7, Preview: every node and the files it gets, the selected file highlighted, the
kubeadm snippet to copy, with ``[clients] repoint`` each kubeconfig's one-line diff
(``screens.client_view``), a dry-run diff against the nodes (the engine with ``dry_run``), and
saving the profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static, Tree

from screens.base import WizardScreen
from screens.client_view import BRANCH, KubeconfigRef, leaf_label, view_text
from screens.engine_bridge import EventsReady, RunFailed, RunFinished
from screens.engine_runner import RunsEngine
from screens.object_view import BRANCH as OBJECTS_BRANCH
from screens.object_view import ObjectLeaf, leaves
from screens.object_view import leaf_label as object_label
from screens.object_view import view_text as object_text
from screens.widgets.file_view import FileView, lexer_for
from wizard.engine.model import ApplyOptions, FileDiff
from wizard.errors import KubehaError
from wizard.problems import Problem
from wizard.render import RenderedFile, RenderPlan

CLUSTER = "_cluster"


@dataclass(frozen=True)
class FileRef:
    node: str  # a node name, or CLUSTER for the operator's snippets
    file: RenderedFile


def first_file_line(tree: Tree) -> int:
    """The tree line of the first file (every branch is expanded, the root hidden)."""
    for line, branch in enumerate(tree.root.children):
        if branch.children:
            return line + 1  # the branches before it have no files, one line each
    return 0


class PreviewScreen(RunsEngine, WizardScreen):
    next_label = "Deploy ›"
    show_problems = True  # every warning of the profile, whichever step it belongs to

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", "Deploy", priority=True),  # asks first: see go_next
        Binding("s", "save", "Save"),
        Binding("d", "dry_run", "Dry run"),
        Binding("v", "toggle_view", "File/diff"),
        Binding("c", "copy", "Copy"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plan: RenderPlan | None = None
        self.error: str | None = None
        self.current: FileRef | KubeconfigRef | ObjectLeaf | None = None
        self.show_diff = False

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            with Horizontal(id="preview-panes"):
                tree: Tree[FileRef | None] = Tree("plan", id="plan-tree")
                tree.show_root = False
                tree.border_title = "Nodes and files"
                yield tree
                view = FileView(id="viewer")
                view.border_title = "File"
                yield view
            yield Static("", id="preview-status", markup=False)

    def on_mount(self) -> None:
        try:
            self.plan = self.kubeha.plan()
        except KubehaError as exc:
            self.error = str(exc)
        super().on_mount()
        if self.plan is None:
            self.query_one(FileView).show_message(self.error or "")
            return
        self.fill_tree(self.plan)
        self.update_status()
        tree = self.query_one("#plan-tree", Tree)
        tree.focus()
        # the first node that has files: with run_on = "lb-nodes" the masters have none
        tree.move_cursor_to_line(first_file_line(tree))
        if self.state.resume:
            self.query_one("#next", Button).label = "Resume ›"

    def blocked(self) -> bool:
        return self.plan is None

    def current_problems(self) -> list[Problem]:
        return self.state.problems()

    def revalidate(self) -> None:
        super().revalidate()
        warnings = sum(not p.is_error for p in self.current_problems())
        if self.plan is None:
            self.set_status("the profile has errors")
        elif warnings:
            self.set_status(f"{warnings} warning(s): read them before you deploy")

    # The tree ---------------------------------------------------------------------------------

    def fill_tree(self, plan: RenderPlan) -> None:
        tree = self.query_one("#plan-tree", Tree)
        tree.clear()
        for node in plan.nodes:
            branch = tree.root.add(Text(f"{node.node} ({node.role}) {node.address}"), expand=True)
            for file in node.files:
                branch.add_leaf(self.file_label(node.node, file), FileRef(node.node, file))
        snippets = tree.root.add(Text("cluster: for kubeadm and kubeconfig"), expand=True)
        for file in plan.snippets:
            snippets.add_leaf(Text(file.path), FileRef(CLUSTER, file))
        targets = plan.profile.clients.targets()
        if targets:
            clients = tree.root.add(Text(BRANCH), expand=True)
            for target in targets:
                ref = KubeconfigRef(target)
                clients.add_leaf(Text(leaf_label(plan, ref, self.state.dry_run)), ref)
            objects = tree.root.add(Text(OBJECTS_BRANCH), expand=True)
            read = self.state.dry_run_objects
            for leaf in leaves():
                objects.add_leaf(Text(object_label(leaf, read, bool(self.state.dry_run))), leaf)

    def file_label(self, node: str, file: RenderedFile) -> Text:
        diff = self.diff_of(FileRef(node, file))
        return Text(f"{file.path}  ({diff.action})" if diff else file.path)

    def diff_of(self, ref: FileRef) -> FileDiff | None:
        result = self.state.dry_run.get(ref.node)
        diffs: tuple[FileDiff, ...] = getattr(result, "diffs", ())
        for diff in diffs:
            if diff.path == ref.file.path:
                return diff
        return None

    @on(Tree.NodeHighlighted, "#plan-tree")
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        ref = event.node.data
        if isinstance(ref, FileRef | KubeconfigRef | ObjectLeaf):
            self.current = ref
            self.show_current()

    def show_current(self) -> None:
        ref = self.current
        if ref is None:
            return
        view = self.query_one(FileView)
        if isinstance(ref, ObjectLeaf):
            view.border_title = Text(f"{ref.title}: through the API")
            text = object_text(ref, self.state.dry_run_objects, bool(self.state.dry_run))
            view.show(text, "diff" if self.state.dry_run else "text")
            return
        if isinstance(ref, KubeconfigRef):
            assert self.plan is not None
            view.border_title = Text(f"{ref.kubeconfig.path}: its server: line on each node")
            view.show(view_text(self.plan, ref, self.state.dry_run), "text")
            return
        diff = self.diff_of(ref)
        where = "for the operator" if ref.node == CLUSTER else f"on {ref.node}"
        result = self.state.dry_run.get(ref.node)
        if self.show_diff and diff is not None:
            view.border_title = Text(f"diff {ref.file.path} {where} ({diff.action})")
            view.show(diff.diff or "(no changes)\n", "diff")
        elif self.show_diff and result is not None and not result.ok:
            view.border_title = Text(f"diff {ref.file.path} {where}")
            view.show_message(
                f"The dry run failed on {ref.node}:\n{result.reason or result.state.value}"
            )
        else:
            view.border_title = Text(f"{ref.file.path} {where}, mode {ref.file.mode:04o}")
            view.show(ref.file.content, lexer_for(ref.file.path))

    def update_status(self, extra: str = "") -> None:
        assert self.plan is not None
        files = sum(len(n.files) for n in self.plan.nodes)
        text = f"{len(self.plan.nodes)} nodes, {files} files; clients use {self.plan.server_url}"
        if repointed := len(self.plan.profile.clients.targets()):
            text += f"; {repointed} kubeconfig(s) repointed to it"
        self.query_one("#preview-status", Static).update(f"{text}. {extra}" if extra else text)

    # Actions ----------------------------------------------------------------------------------

    def go_next(self) -> None:
        """Deploy (or resume) after the operator confirms: never on one key."""
        resume = self.state.resume
        note = "Resumes the interrupted install." if resume else ""
        verb = "Resume" if resume else "Deploy"
        self.kubeha.confirm_run(verb, self.state.node_names(), self._deploy, note)

    def _deploy(self) -> None:
        self.state.only = ()
        self.kubeha.goto("deploy")

    def action_save(self) -> None:
        self.kubeha.save()

    def action_copy(self) -> None:
        ref = self.current
        if isinstance(ref, FileRef):
            self.app.copy_to_clipboard(ref.file.content)
            self.notify(f"Copied {ref.file.path} to the clipboard.", markup=False)
        elif isinstance(ref, KubeconfigRef) and self.plan is not None:
            self.app.copy_to_clipboard(view_text(self.plan, ref, self.state.dry_run))
            self.notify(f"Copied the lines of {ref.kubeconfig.path}.", markup=False)

    def action_toggle_view(self) -> None:
        self.show_diff = not self.show_diff
        if self.show_diff and not self.state.dry_run:
            self.notify("No diff yet: press d for a dry run against the nodes.")
        self.show_current()

    def action_dry_run(self) -> None:
        if self.plan is None or self.engine_running:
            return
        if self.kubeha.refuses_to_connect("dry run"):
            self.update_status("Dry run refused: the profile uses example addresses.")
            return
        self.update_status("Dry run: connecting to the nodes…")
        self.start_engine(ApplyOptions(dry_run=True), self.plan)

    @on(EventsReady)
    def _events(self, message: EventsReady) -> None:
        message.bridge.drain()  # a dry run's progress is not shown here, only its result

    @on(RunFinished)
    def _finished(self, message: RunFinished) -> None:
        self.state.dry_run = {n.node: n for n in message.summary.nodes}
        self.state.dry_run_objects = message.summary.objects
        failed = [n for n in message.summary.nodes if not n.ok]
        assert self.plan is not None
        self.fill_tree(self.plan)
        self.show_diff = True
        self.show_current()
        if failed:
            reasons = "".join(f"\n  {n.node}: {n.reason or n.state.value}" for n in failed[:5])
            more = f"\n  … {len(failed) - 5} more" if len(failed) > 5 else ""
            self.update_status(
                f"Dry run: {len(failed)} node(s) failed (a failed node's files say why):"
                f"{reasons}{more}"
            )
        else:
            self.update_status("Dry run done: v switches file/diff")

    @on(RunFailed)
    def _failed(self, message: RunFailed) -> None:
        self.update_status(f"Dry run failed: {message.error}")

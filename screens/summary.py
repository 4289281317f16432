"""Step 9, Summary: each node's result and reason, the run log's path, retrying the failed
nodes and saving the profile; then ``kubeha verify``'s table, run in a thread worker: what every
node reaches through its load balancer, the master that answered, the latency and the VIP."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from screens.base import WizardScreen
from screens.state import Verifier

if TYPE_CHECKING:
    from wizard.engine.verify import VerifyReport


class SummaryScreen(WizardScreen):
    next_label = "New run ›"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry failed"),
        Binding("v", "verify", "Verify"),
        Binding("s", "save", "Save profile"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static("", id="summary-head", markup=False)
            yield DataTable(id="results", cursor_type="row", zebra_stripes=True)
            yield Static("", id="log-path", markup=False)
            yield Static("", id="verify-head", markup=False)
            yield DataTable(id="verify", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        state = self.state
        head = self.query_one("#summary-head", Static)
        table = self.query_one("#results", DataTable)
        table.add_columns("Node", "Role", "Result", "Reason")
        summary = state.summary
        if summary is None:
            head.update(f"The run did not finish: {state.run_error or 'no result'}")
            head.add_class("-failed")
            return
        for result in summary.nodes:
            role = state.role_of(result.node) if result.node in state.node_names() else ""
            mark = "✓" if result.ok else "✗"
            cells = (result.node, role, f"{mark} {result.state.value}", result.reason or "")
            table.add_row(*(Text(cell) for cell in cells), key=result.node)
        failed = summary.failed()
        total = len(summary.nodes)
        if state.cancelled:
            text = f"Cancelled: {total - len(failed)} of {total} node(s) ok; the rest kept their old config."
        elif failed:
            text = f"{len(failed)} of {total} node(s) failed; r retries them."
        else:
            text = f"Every node ok ({total}). Clients can use the load balancer now."
        for problem in summary.cluster_problems:
            text += f"\n{problem}"
        head.update(text)
        head.set_class(bool(failed) or bool(summary.cluster_problems), "-failed")
        head.set_class(not failed and not summary.cluster_problems, "-ok")
        log = summary.log_path
        self.query_one("#log-path", Static).update(
            f"Run log: {log}" if log else "No run log was written."
        )
        table.focus()
        if not state.cancelled:
            self.action_verify()

    # Verify ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry" and not self.failed_nodes():
            return None
        if action == "verify" and (self.state.summary is None or self.kubeha.verifier is None):
            return None
        return super().check_action(action, parameters)

    def action_verify(self) -> None:
        verifier = self.kubeha.verifier
        if verifier is None or self.state.summary is None:
            return
        if self.kubeha.refuses_to_connect("verify", verifying=True):
            self.query_one("#verify-head", Static).update(
                "Verify refused: the profile uses example addresses."
            )
            return
        head = self.query_one("#verify-head", Static)
        head.update("Verifying: /readyz through every node's load balancer…")
        head.set_classes("")
        self._verify_worker(verifier)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def _verify_worker(self, verifier: Verifier) -> None:
        from wizard.engine.model import ApplyOptions

        report = verifier(self.state.profile, ApplyOptions(), self.state.secrets)
        self.app.call_from_thread(self._show_verify, report)

    @on(Worker.StateChanged)
    def _verify_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "verify" and event.state is WorkerState.ERROR:
            head = self.query_one("#verify-head", Static)
            head.update(f"Verify could not run: {event.worker.error}")
            head.set_classes("-failed")

    def _show_verify(self, report: VerifyReport) -> None:
        from wizard.engine.verify import table_rows, verdict

        if not self.is_attached:  # the operator moved on while the worker ran
            return
        rows = table_rows(report)
        table = self.query_one("#verify", DataTable)
        table.clear(columns=True)
        table.add_columns(*(cell.capitalize() if cell != "VIP" else cell for cell in rows[0]))
        for row in rows[1:]:
            table.add_row(*(Text(str(cell)) for cell in row))  # node text, never markup
        head = self.query_one("#verify-head", Static)
        line = verdict(report)
        if report.ok:
            head.update(f"Verify: {line}.")
        else:
            head.update(f"{line[0].upper()}{line[1:]} (v verifies again)")
        head.set_class(report.ok, "-ok")
        head.set_class(not report.ok, "-failed")

    def go_next(self) -> None:
        self.kubeha.goto("start")

    def previous_step(self) -> str:
        return "preview"

    def failed_nodes(self) -> tuple[str, ...]:
        summary = self.state.summary
        if summary is None:
            return ()
        return tuple(n.node for n in summary.failed())

    def action_retry(self) -> None:
        failed = self.failed_nodes()
        if not failed:
            self.notify("No failed nodes to retry.")
            return
        self.kubeha.confirm_run("Redeploy", failed, lambda: self._redeploy(failed))

    def _redeploy(self, failed: tuple[str, ...]) -> None:
        self.state.only = failed
        self.state.resume = False
        self.kubeha.goto("deploy")

    def action_save(self) -> None:
        self.kubeha.save()

    async def action_quit(self) -> None:
        await self.kubeha.action_quit()  # asks when the profile has unsaved changes

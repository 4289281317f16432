"""The Clients step: repointing toggled, kubeconfigs added and removed one per line (kubeadm's
prefilled), every bad value named by its line, the profile saved and read back, and Preview's
one-line diff of each kubeconfig, before and after a dry run. ctrl+n goes on to Preview: no key
on this step deploys."""

from __future__ import annotations

import dataclasses

from textual.widgets import Checkbox, Input, TextArea, Tree

from screens.app import make_app
from screens.client_view import KubeconfigRef
from screens.clients import ClientsScreen
from screens.preview import PreviewScreen
from screens.widgets.file_view import FileView
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, screen_text, wait_for, widget_text
from wizard.paths import user_profiles_dir
from wizard.profile import KUBEADM_KUBECONFIGS, ClientKubeconfig, Clients
from wizard.profile_io import load_profile

PROXY = "/etc/kubernetes/kube-proxy.kubeconfig kube-proxy.service"
LB = "https://apiserver.cluster.local:8443"  # local-nginx: the API host name


def _repointing(**clients):
    return dataclasses.replace(example("local-nginx"), clients=Clients(repoint=True, **clients))


def _area(app) -> TextArea:
    return app.screen.query_one("#text-kubeconfigs", TextArea)


async def _type_line(pilot, text: str) -> None:
    """A new last line, typed key by key into the kubeconfig list."""
    area = _area(pilot.app)
    area.focus()
    area.move_cursor(area.document.end)
    await pilot.press("enter", *text)
    await pilot.pause()


def _problems(app) -> str:
    return " ".join(widget_text(app, "#problem-list").split())


async def test_the_list_starts_with_kubeadms_and_space_toggles_repointing() -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine(), initial_step="clients")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ClientsScreen)
        assert _area(app).text.splitlines()[0] == "/etc/kubernetes/kubelet.conf kubelet.service"
        assert len(_area(app).text.splitlines()) == len(KUBEADM_KUBECONFIGS)
        box = app.screen.query_one("#f-clients-repoint", Checkbox)
        assert app.screen.focused is box and str(box.label) == "off"
        await pilot.press("space")
        assert app.state.profile.clients == Clients(repoint=True)  # kubeadm's: stored empty
        assert str(box.label) == "on" and app.state.dirty
        assert "Only the files present on a node are touched" in screen_text(app)
        await pilot.press("space")
        assert app.state.profile.clients == Clients() and not app.state.dirty


async def test_a_kubeconfig_is_added_and_removed_one_line_at_a_time() -> None:
    app = make_app(profile=_repointing(), engine=FakeEngine(), initial_step="clients")
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_line(pilot, PROXY)
        added = ClientKubeconfig("/etc/kubernetes/kube-proxy.kubeconfig", "kube-proxy.service")
        assert app.state.profile.clients.kubeconfigs == (*KUBEADM_KUBECONFIGS, added)
        area = _area(app)
        area.move_cursor((0, 0))
        for _ in range(len(KUBEADM_KUBECONFIGS)):  # kubeadm's four lines go, one by one
            area.action_delete_line()
        await pilot.pause()
        assert area.text == PROXY
        assert app.state.profile.clients.kubeconfigs == (added,)
        assert not app.screen.query_one("#next").disabled


async def test_every_bad_value_is_named_by_its_line_with_what_is_expected() -> None:
    app = make_app(profile=_repointing(), engine=FakeEngine(), initial_step="clients")
    async with app.run_test(size=(120, 40)) as pilot:
        await _type_line(pilot, "etc/kubernetes/proxy.conf")
        problems = _problems(app)
        assert "Kubeconfigs line 5 path: 'etc/kubernetes/proxy.conf'" in problems
        assert "expected an absolute file path on the nodes" in problems
        assert app.screen.query_one("#next").disabled
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ClientsScreen)  # blocked: no step further
        await _type_line(pilot, "/etc/kubernetes/x.conf kubelet")
        assert "Kubeconfigs line 6 unit: 'kubelet'" in _problems(app)
        assert "expected a systemd service such as kubelet.service" in _problems(app)
        await _type_line(pilot, "/etc/a.conf a.service extra")
        assert "Kubeconfigs line 7: '/etc/a.conf a.service extra'" in _problems(app)
        assert "expected PATH [UNIT or pod:NAME]" in _problems(app)
        ca = app.screen.query_one("#f-clients-ca-file", Input)
        ca.value = "pki/ca.crt"
        await pilot.pause()
        assert "clients.ca_file: 'pki/ca.crt': expected an absolute path" in _problems(app)


async def test_the_saved_profile_reads_back_as_edited(tmp_path) -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine(), initial_step="clients")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("space")
        app.screen.query_one("#f-clients-ca-file", Input).value = "/etc/kubernetes/pki/ca.crt"
        await _type_line(pilot, PROXY)
        app.save()
        await pilot.pause()
        saved = user_profiles_dir() / "example-local-nginx.toml"
        assert load_profile(saved) == app.state.profile and not app.state.dirty
        clients = load_profile(saved).clients
        assert clients.repoint and clients.ca_file == "/etc/kubernetes/pki/ca.crt"
        assert clients.kubeconfigs[-1].path == "/etc/kubernetes/kube-proxy.kubeconfig"
    again = make_app(profile_path=saved, engine=FakeEngine(), initial_step="clients")
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert _area(again).text.splitlines()[-1] == PROXY
        assert str(again.screen.query_one("#f-clients-repoint", Checkbox).label) == "on"


async def test_ctrl_n_goes_from_ssh_to_clients_to_preview_and_deploys_nothing() -> None:
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine, initial_step="ssh")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ClientsScreen)
        await pilot.press("space", "ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen) and not engine.calls
        await pilot.press("ctrl+n")  # Deploy asks, naming the kubeconfigs it repoints
        await pilot.pause()
        assert "4 kubeconfigs on each node repointed" in screen_text(app)
        await pilot.press("enter")  # Cancel has the focus
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen) and not engine.calls
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ClientsScreen)


def _client_leaves(app) -> dict[str, str]:
    tree = app.screen.query_one("#plan-tree", Tree)
    return {
        leaf.data.kubeconfig.path: str(leaf.label)
        for branch in tree.root.children
        for leaf in branch.children
        if isinstance(leaf.data, KubeconfigRef)
    }


async def test_preview_shows_each_kubeconfigs_one_line_diff() -> None:
    engine = FakeEngine(absent=("/etc/kubernetes/admin.conf",))
    app = make_app(profile=_repointing(), engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        leaves = _client_leaves(app)
        assert list(leaves) == [k.path for k in KUBEADM_KUBECONFIGS]
        kubelet = "/etc/kubernetes/kubelet.conf"
        assert leaves[kubelet] == f"{kubelet}  server: <current> → server: {LB}"
        tree = app.screen.query_one("#plan-tree", Tree)
        tree.move_cursor_to_line(tree.last_line - 7)  # the kubelet's leaf (the objects: 4 lines)
        await pilot.pause()
        assert f"server: <current> → server: {LB}" in app.screen.query_one(FileView).shown_text
        await pilot.press("d")
        await wait_for(pilot, lambda: bool(app.state.dry_run))
        await pilot.pause()
        old = f"https://{app.state.profile.masters[0].address}:6443"
        leaves = _client_leaves(app)
        assert leaves[kubelet] == f"{kubelet}  server: {old} → server: {LB}"
        assert leaves["/etc/kubernetes/admin.conf"].endswith("not on any node: left alone")
        tree.move_cursor_to_line(tree.last_line - 7)
        await pilot.pause()
        shown = app.screen.query_one(FileView).shown_text
        assert f"worker1: server: {old} → server: {LB}" in shown
        assert "4 kubeconfig(s) repointed" in screen_text(app)


async def test_preview_without_repointing_lists_no_kubeconfig() -> None:
    app = make_app(profile=example("local-nginx"), engine=FakeEngine())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert _client_leaves(app) == {}


async def test_kubeadms_local_kubeconfigs_are_an_explicit_choice_with_its_cost() -> None:
    """repoint_local is off by default; its help names what it costs in `kubeadm upgrade`
    (kubernetes/kubernetes#94398, #129956), and space turns it on in the profile."""
    app = make_app(profile=_repointing(), engine=FakeEngine(), initial_step="clients")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#f-clients-repoint-local", Checkbox)
        assert str(box.label) == "off" and not app.state.profile.clients.repoint_local
        note = " ".join(widget_text(app, "#clients-local-note").split())
        assert "kubeadm upgrade" in note and "#94398" in note and "#129956" in note
        box.focus()
        await pilot.press("space")
        await pilot.pause()
        assert app.state.profile.clients == Clients(repoint=True, repoint_local=True)


async def test_preview_shows_kubeadms_objects_and_their_diffs_after_a_dry_run() -> None:
    from screens.object_view import ObjectLeaf

    title = "ConfigMap kube-system/kube-proxy data.kubeconfig.conf"
    diff = f"--- {title}\n+++ {title} (kubeha)\n-    server: https://192.0.2.11:6443\n+    server: {LB}\n"
    unchanged = "ConfigMap kube-system/kubeadm-config data.ClusterConfiguration"
    objects = ((title, diff), (unchanged, "unchanged: left as is"))
    app = make_app(profile=_repointing(), engine=FakeEngine(objects=objects))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.screen.query_one("#plan-tree", Tree)
        lines = {
            str(node.label): index
            for index in range(tree.last_line + 1)
            if (node := tree.get_node_at_line(index)) is not None
            and isinstance(node.data, ObjectLeaf)
        }
        assert list(lines) == [
            "ConfigMap kube-system/kube-proxy",
            "ConfigMap kube-public/cluster-info",
            "ConfigMap kube-system/kubeadm-config",
        ]
        tree.move_cursor_to_line(lines["ConfigMap kube-system/kube-proxy"])
        await pilot.pause()
        shown = app.screen.query_one(FileView).shown_text
        assert "Press d for a dry run" in shown and "restarted (rolling)" in shown
        await pilot.press("d")
        await wait_for(pilot, lambda: bool(app.state.dry_run))
        await pilot.pause()
        labels = [
            str(node.label)
            for index in range(tree.last_line + 1)
            if (node := tree.get_node_at_line(index)) is not None
            and isinstance(node.data, ObjectLeaf)
        ]
        assert labels == [
            "ConfigMap kube-system/kube-proxy  (changes)",
            "ConfigMap kube-public/cluster-info  (not in the cluster)",
            "ConfigMap kube-system/kubeadm-config  (unchanged)",
        ]
        tree.move_cursor_to_line(lines["ConfigMap kube-system/kube-proxy"])
        await pilot.pause()
        assert f"+    server: {LB}" in app.screen.query_one(FileView).shown_text

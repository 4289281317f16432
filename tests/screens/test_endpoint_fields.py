"""The Balancer step shows the API host name of a node-local strategy (from its section's
described fields) and the cluster's kubeadm API, and an edit of either reaches the profile and
the problems."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from screens.app import make_app
from tests.support.examples import section
from tests.support.screen_helpers import example, screen_text
from wizard.render import build_plan

SECTIONS = {"local-nginx": "local-nginx", "local-haproxy": "local-haproxy", "ipvs": "ipvs"}


@pytest.mark.parametrize("strategy", sorted(SECTIONS))
async def test_the_form_shows_the_api_host_name(strategy) -> None:
    app = make_app(profile=example(strategy), initial_step="balancer")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        field = app.screen.query_one(f"#f-{SECTIONS[strategy]}-apiserver-hostname", Input)
        assert field.value == "apiserver.cluster.local"
        assert "API host name" in screen_text(app)


async def test_a_bad_host_name_is_shown_as_a_problem_and_a_good_one_is_kept() -> None:
    app = make_app(profile=example("local-nginx"), initial_step="balancer")
    async with app.run_test(size=(120, 40)) as pilot:
        field = app.screen.query_one("#f-local-nginx-apiserver-hostname", Input)
        field.value = "api server"
        await pilot.pause()
        shown = str(app.screen.query_one("#problems").render())
        assert "local_nginx.apiserver_hostname" in shown and "expected a host name" in shown
        field.value = "k8s-api.internal"
        await pilot.pause()
        assert section(app.state.profile, "local_nginx").apiserver_hostname == "k8s-api.internal"
        assert "apiserver_hostname" not in str(app.screen.query_one("#problems").render())


async def test_the_kubeadm_api_is_a_choice_of_the_two() -> None:
    app = make_app(profile=example("haproxy-keepalived"), initial_step="balancer")
    async with app.run_test(size=(120, 40)) as pilot:
        choice = app.screen.query_one("#f-cluster-kubeadm-api", Select)
        assert choice.value == "v1beta4"
        choice.value = "v1beta3"
        await pilot.pause()
        assert app.state.profile.cluster.kubeadm_api == "v1beta3"


async def test_the_check_auth_is_a_choice_and_reaches_the_profile() -> None:
    """A hardened apiserver (anonymous /readyz 401): the Balancer step offers the modes."""
    app = make_app(profile=example("local-haproxy"), initial_step="balancer")
    async with app.run_test(size=(120, 40)) as pilot:
        choice = app.screen.query_one("#f-health-check-auth", Select)
        assert choice.value == "anonymous"
        assert "Check auth" in screen_text(app)
        choice.value = "client-cert"
        await pilot.pause()
        assert app.state.profile.health_check.auth == "client-cert"
        cert = app.screen.query_one("#f-health-check-client-cert", Input)
        assert cert.value == "/var/lib/kubelet/pki/kubelet-client-current.pem"
        cert.value = "relative.pem"
        await pilot.pause()
        shown = str(app.screen.query_one("#problems").render())
        assert "health_check.client_cert" in shown and "absolute path" in shown


async def test_a_sub_second_advert_interval_is_typed_and_a_bad_one_named() -> None:
    """haproxy-keepalived's Advert interval takes 0.3 (VRRP version 3 in the preview's
    keepalived.conf); 0.005 is named as a problem with what is expected."""
    app = make_app(profile=example("haproxy-keepalived"), initial_step="balancer")
    async with app.run_test(size=(120, 40)) as pilot:
        field = app.screen.query_one("#f-haproxy-keepalived-advert-int", Input)
        field.focus()
        field.value = ""
        await pilot.press("0", ".", "3")
        await pilot.pause()
        assert section(app.state.profile, "haproxy_keepalived").advert_int == 0.3
        assert "advert_int" not in str(app.screen.query_one("#problems").render())
        conf = next(
            f.content
            for f in build_plan(app.state.profile).nodes[0].files
            if f.path == "/etc/keepalived/keepalived.conf"
        )
        assert "    version 3\n" in conf and "    advert_int 0.3\n" in conf
        await pilot.press("0", "5")  # 0.305: not in hundredths
        await pilot.pause()
        shown = str(app.screen.query_one("#problems").render())
        assert "haproxy_keepalived.advert_int" in shown and "in hundredths" in shown

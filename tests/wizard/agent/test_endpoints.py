"""Reading the cluster's word (wizard.agent.endpoints): the default/kubernetes Endpoints and
EndpointSlices as the apiserver writes them, its watch stream, and answers it cannot read."""

from __future__ import annotations

import json

import pytest

from wizard.agent.endpoints import (
    BadEndpoints,
    Expired,
    members_of_endpoints,
    members_of_listing,
    members_of_slices,
    read_events,
)
from wizard.agent.roster import Member

# As kube-apiserver's master endpoint reconciler writes it (kubectl get ep kubernetes -o json).
ENDPOINTS = {
    "kind": "Endpoints",
    "apiVersion": "v1",
    "metadata": {"name": "kubernetes", "namespace": "default", "resourceVersion": "204"},
    "subsets": [
        {
            "addresses": [{"ip": "10.77.0.11"}, {"ip": "10.77.0.12"}, {"ip": "10.77.0.13"}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }
    ],
}
SLICES = {
    "kind": "EndpointSliceList",
    "items": [
        {
            "addressType": "IPv6",
            "endpoints": [
                {"addresses": ["fd77::11"], "conditions": {"ready": True}},
                {"addresses": ["fd77::12"], "conditions": {"ready": False}},
            ],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }
    ],
}


def test_the_endpoints_name_every_ready_master():
    assert members_of_endpoints(ENDPOINTS) == {
        Member("10.77.0.11", 6443),
        Member("10.77.0.12", 6443),
        Member("10.77.0.13", 6443),
    }


def test_no_subsets_names_no_master():
    assert members_of_endpoints({"kind": "Endpoints", "metadata": {}}) == frozenset()


def test_a_slice_endpoint_that_is_not_ready_is_not_taken():
    assert members_of_slices(SLICES) == {Member("fd77::11", 6443)}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {
                "subsets": [
                    {"addresses": [{"ip": "master-1"}], "ports": [{"name": "https", "port": 6443}]}
                ]
            },
            "subsets[0].addresses[0].ip",
        ),
        (
            {
                "subsets": [
                    {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "https", "port": 0}]}
                ]
            },
            "subsets[0].ports",
        ),
        ({"subsets": "all"}, "subsets"),
        ({"kind": "Service"}, "kind"),
    ],
)
def test_an_object_it_cannot_read_names_the_field(change, field):
    with pytest.raises(BadEndpoints) as error:
        members_of_endpoints({**ENDPOINTS, **change})
    assert str(error.value).startswith(field)


def test_watch_events_in_order_and_a_bookmark_names_nothing():
    modified = {
        **ENDPOINTS,
        "subsets": [{**ENDPOINTS["subsets"][0], "addresses": [{"ip": "10.77.0.11"}]}],
    }
    lines = [
        json.dumps({"type": "ADDED", "object": ENDPOINTS}).encode() + b"\n",
        b"\n",
        json.dumps(
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "300"}}}
        ).encode(),
        json.dumps({"type": "MODIFIED", "object": modified}).encode(),
    ]
    events = list(read_events(lines))
    assert [e.type for e in events] == ["ADDED", "BOOKMARK", "MODIFIED"]
    assert events[1].members is None and events[1].resource_version == "300"
    assert events[2].members == {Member("10.77.0.11", 6443)}


def test_an_error_event_ends_the_watch_and_a_410_says_list_again():
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}
    with pytest.raises(Expired, match="too old"):
        list(read_events([json.dumps(gone).encode()]))
    other = {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "boom"}}
    with pytest.raises(BadEndpoints, match="boom") as raised:
        list(read_events([json.dumps(other).encode()]))
    assert not isinstance(raised.value, Expired)


# As kube-apiserver answers GET /api/v1/namespaces/default/endpoints?fieldSelector=...: the
# list's resourceVersion is the cluster's now, newer than the object's on a quiet cluster.
LISTING = {
    "kind": "EndpointsList",
    "apiVersion": "v1",
    "metadata": {"resourceVersion": "98123"},
    "items": [ENDPOINTS],
}


def test_a_listing_names_the_masters_and_the_lists_resource_version():
    members, version = members_of_listing(LISTING)
    assert members == members_of_endpoints(ENDPOINTS) and version == "98123"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "items: '0 item"),
        ({"items": [ENDPOINTS, ENDPOINTS]}, "items: '2 item"),
        ({"items": None}, "items: None"),
        ({"metadata": {}}, "metadata.resourceVersion: None"),
        ({"kind": "Endpoints"}, "kind: 'Endpoints'"),
    ],
)
def test_a_listing_it_cannot_read_names_the_field(change, field):
    with pytest.raises(BadEndpoints, match="^" + field.replace("(", r"\(")):
        members_of_listing({**LISTING, **change})


def test_a_line_that_is_not_json_ends_the_watch():
    with pytest.raises(BadEndpoints, match="expected a JSON object"):
        list(read_events([b"<html>"]))

"""A template that cannot render (a name the context lacks, a syntax error) is a RenderError
naming the template, not a NameError from the handler that was meant to catch it."""

from __future__ import annotations

import pytest

from wizard import templating


def test_a_missing_variable_is_a_render_error_naming_the_template():
    with pytest.raises(templating.RenderError, match=r"template common/hosts\.line\.j2: .*"):
        templating.render_template("common/hosts.line.j2")  # no profile, address, hostname

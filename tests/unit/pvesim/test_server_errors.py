"""The simulator is quiet when a client hangs up mid-answer (a Terraform stopped by SIGTERM), as a real
PVE is to the admin's terminal, and still prints any other error of its own."""

from __future__ import annotations

import ssl

import pytest

from aimachine.pvesim.server import serve


@pytest.fixture
def server(tmp_path):
    state = tmp_path / "state.yml"
    state.write_text("{}\n")
    srv = serve(state, 0)
    yield srv
    srv.server_close()


@pytest.mark.parametrize("gone", [ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
                                  BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")])
def test_a_client_that_hung_up_prints_nothing(server, capsys, gone):
    try:
        raise gone
    except OSError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""


def test_any_other_error_is_printed(server, capsys):
    try:
        raise KeyError("route")
    except KeyError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "KeyError: 'route'" in capsys.readouterr().err

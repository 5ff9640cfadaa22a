from deploy import state


def test_address_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(state.STATE_ENV, str(tmp_path / "st"))
    assert state.recorded_address("vm-a") is None
    state.update("vm-a", address="10.0.0.5", vmid=140)
    state.update("vm-a", address="10.0.0.6")
    assert state.recorded_address("vm-a") == "10.0.0.6"
    assert state.read("vm-a")["vmid"] == 140

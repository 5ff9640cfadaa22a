from aimachine.reach import state


def test_address_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(state.STATE_ENV, str(tmp_path / "st"))
    assert state.recorded_address("vm-a") is None
    state.update("vm-a", address="10.0.0.5", vmid=140)
    state.update("vm-a", address="10.0.0.6")
    assert state.recorded_address("vm-a") == "10.0.0.6"
    assert state.read("vm-a")["vmid"] == 140


def test_state_lives_beside_the_catalog_whatever_the_working_directory(tmp_path, monkeypatch):
    import os

    monkeypatch.delenv(state.STATE_ENV)  # as an admin's shell has it
    import shutil

    from tests.conftest import ROOT, run_aimachine

    shutil.copy(ROOT / "catalog.yml", tmp_path / "catalog.yml")
    (tmp_path / ".aimachine").mkdir()
    (tmp_path / ".aimachine" / "vm-llm-aimachine.json").write_text('{"address": "127.0.0.7"}')
    env = {k: v for k, v in os.environ.items() if k != state.STATE_ENV}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_aimachine("address", "vm-llm-aimachine", "--catalog", str(tmp_path / "catalog.yml"),
                           env=env, cwd=elsewhere)
    assert result.stdout.strip() == "127.0.0.7", result.stderr

"""``yibao ivr``: the phone-line simulator as a real process, keys piped on standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from api_support import TEST_KEY
from ivr_support import PIN, keyed, phone_person
from yibao.ivr import speech, wav
from yibao.store.db import make_engine
from yibao.store.models import audit_log


def simulate(keys: list[str], *, database_url: str, data_dir, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = os.environ | {
        "YIBAO_DATABASE_URL": database_url, "YIBAO_DATA_DIR": str(data_dir), "YIBAO_SECRET_KEY": TEST_KEY, "COLUMNS": "100",
    }
    return subprocess.run(
        [sys.executable, "-m", "yibao.cli", "ivr", *args], input="".join(f"{key}\n" for key in keys),
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_a_piped_call_reads_the_balance_repeats_on_silence_and_hangs_up(database_url, tmp_path):
    engine = make_engine(database_url)
    alice = phone_person(engine, 1, balance_fen=123_456)
    result = simulate([keyed(alice.id_number), PIN, "1", "", "h"], database_url=database_url, data_dir=tmp_path,
                      args=("--caller", "13512345678"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"【语音】{speech.GREETING}" and lines[1] == f"【语音】{speech.ASK_IDENTITY}"
    assert f"> {keyed(alice.id_number)}" in lines
    assert "【语音】您的个人账户余额是一千二百三十四元五角六分。" in lines
    assert [line.rstrip() for line in lines[-4:]] == [">", f"【语音】{speech.SILENCE}", f"【语音】{speech.AFTER_ANSWER}", "> h"]
    with engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "ivr.balance")).mappings().one()
    assert entry["actor_kind"] == "phone" and entry["client"] == "135****5678" and entry["subject_person_id"] == alice.person_id
    engine.dispose()


def test_end_of_input_hangs_up_and_wrong_entries_end_the_call(database_url, tmp_path):
    result = simulate(["12", "x1", "34", "5"], database_url=database_url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"【语音】{speech.TOO_MANY_TRIES}" in result.stdout and result.stdout.rstrip().endswith("【挂机】")
    assert "0-9" in result.stderr  # "x1" is no phone key: said so, and not sent
    quiet = simulate([], database_url=database_url, data_dir=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout.rstrip().endswith("【来电人挂机】")


def test_the_balance_sample_is_recorded_without_a_database(tmp_path):
    target = tmp_path / "sample" / "balance.wav"
    result = simulate([], database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}", data_dir=tmp_path,
                      args=("--balance-sample", str(target)))
    assert result.returncode == 0, result.stderr
    assert speech.balance(speech.SAMPLE_BALANCE_FEN) in result.stdout
    samples, rate = wav.read(target)
    assert rate == wav.RATE and -1.0 > wav.peak_dbfs(samples) > -4.0 and 3.0 < samples.size / rate < 8.0
    assert not (tmp_path / "none.sqlite3").exists()  # no database needed nor made


def test_the_documented_balance_sample_is_a_levelled_recording():
    samples, rate = wav.read(Path(__file__).parents[1] / "docs" / "audio" / "balance.wav")
    assert rate == wav.RATE and -1.0 > wav.peak_dbfs(samples) > -4.0 and 3.0 < samples.size / rate < 8.0


def test_an_unmigrated_database_is_refused(tmp_path):
    result = simulate([], database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}", data_dir=tmp_path)
    assert result.returncode == 2 and "yibao db upgrade" in result.stderr

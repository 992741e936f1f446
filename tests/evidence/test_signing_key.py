"""The custody signing key: created once, atomically, even when processes race."""

import multiprocessing
import stat

from evidence import signing

RACERS = 12
ROUNDS = 15


def _first_use(key_path: str, barrier, results) -> None:
    # A fresh process (fork) that has never loaded the key: exactly a second
    # worker starting at the same moment as the first on a new machine.
    from django.conf import settings

    settings.CUSTODY_SIGNING_KEY_PATH = key_path
    barrier.wait()
    try:
        results.put(("ok", signing.key_id()))
    except Exception as error:  # the test reports what went wrong
        results.put(("error", repr(error)))


def _race(key_path: str) -> list[tuple[str, str]]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(RACERS)
    results = context.Queue()
    processes = [
        context.Process(target=_first_use, args=(key_path, barrier, results))
        for _ in range(RACERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return outcomes


def test_processes_racing_on_first_use_all_get_the_same_whole_key(tmp_path, settings):
    for round_ in range(ROUNDS):
        # given a machine with no key yet
        key_path = tmp_path / f"round-{round_}" / "custody-ed25519.pem"

        # when many processes need it at the same moment
        outcomes = _race(str(key_path))

        # then none fails and all sign with one key, the one on disk
        assert [kind for kind, _ in outcomes] == ["ok"] * RACERS, outcomes
        assert len({key_id for _, key_id in outcomes}) == 1
        settings.CUSTODY_SIGNING_KEY_PATH = key_path
        assert signing.key_id() == outcomes[0][1]
        # and the folder holds the key only, readable by its owner alone
        assert [p.name for p in key_path.parent.iterdir()] == [key_path.name]
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600

"""A hostile zip handed to a party representative's verifier, or to `catd-hq catalog --from`.

A cut reaches a party through mirrors, USB sticks and chat groups. Whoever hands it over can
build the zip byte by byte (tests/hq/zipkit.py): two members of one name (the manifest hashes
the one `zipfile` reads; a spreadsheet user extracts the other), a local entry the central
directory hides (a streaming unzipper shows it), a name that climbs out of the folder it is
extracted to, a link, or a member that inflates to gigabytes. Both verifiers must say FAIL
naming the member (exit 1), quickly, in bounded memory and without writing anything; the
catalog builder must refuse the file by name (exit 2). Memory-bounded cases run as real child
processes under an address-space limit, so a verifier that inflates the bomb dies there and
not on the machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hq import cli
from tests.hq import cutkit, zipkit
from tests.hq.cutkit import RESULTS, TOOL, Verdict, edit_cell, hq_verdict, tool_verdict

ADDRESS_SPACE = 1 << 30   # 1 GiB: ample for either verifier, far below what a bomb inflates to
BOMB_MIB = 3 * 1024
MANIFEST, SIG = "MANIFEST.json", "MANIFEST.json.sig"
CLI = "import sys; from hq import cli; sys.exit(cli.main(sys.argv[1:]))"   # catd-hq, as a child


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> cutkit.Published:
    return cutkit.published_hq(tmp_path_factory.mktemp("published"))


def resigned(published: cutkit.Published, files: dict[str, bytes]) -> dict[str, bytes]:
    """`files` with a manifest listing each of them and signed by HQ's own key: the zip's
    maker need not forge anything for these attacks, only arrange the container."""
    doc = json.loads(files[MANIFEST])
    doc["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in files.items() if n not in (MANIFEST, SIG)}
    body = (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()
    key = published.hq.private_key()
    return {**files, MANIFEST: body, SIG: base64.b64encode(key.sign(body)) + b"\n"}


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_limited(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, preexec_fn=_limited)


def limited_verdicts(zip_path: Path) -> list[tuple[Verdict, str]]:
    """Both verifiers as child processes under the address-space limit."""
    hq = run_limited([sys.executable, "-c", CLI, "verify-release", str(zip_path)])
    tool = run_limited([sys.executable, "-I", str(TOOL), str(zip_path)])
    out = []
    for run in (hq, tool):
        line = next((x for x in run.stderr.splitlines() if x.startswith("FAIL ")), "")
        out.append((Verdict(run.returncode, line[5:].split(": ")[0] if line else "", line or run.stdout),
                    run.stderr))
    return out


def refused_by_both(capsys: pytest.CaptureFixture[str], zip_path: Path, subject: str) -> None:
    ours, theirs = hq_verdict(capsys, str(zip_path)), tool_verdict(str(zip_path))
    assert (ours.code, ours.subject) == (1, subject), ours.text
    assert (theirs.code, theirs.subject) == (1, subject), theirs.text


def test_two_members_of_one_name_are_refused(published, capsys, tmp_path):
    """The forged CSV comes first (what an unzipper asking "replace?" shows, or a reader that
    takes the first); the genuine one, which the manifest hashes, last (what `zipfile` reads)."""
    files = cutkit.members(published.zip)
    forged = edit_cell(files[RESULTS], "090001B0100A01", "PAN", "300")
    path = zipkit.write(tmp_path / published.zip.name,
                        [zipkit.member(RESULTS, forged)] + [zipkit.member(n, d) for n, d in files.items()])
    with zipfile.ZipFile(path) as archive:
        assert archive.read(RESULTS) == files[RESULTS], "zipfile reads the genuine one"
    refused_by_both(capsys, path, RESULTS)


def test_a_local_entry_the_directory_hides_is_refused(published, capsys, tmp_path):
    """A streaming reader walks local entries and meets the forged CSV; `zipfile` reads the
    central directory, which lists only the genuine one."""
    files = cutkit.members(published.zip)
    forged = edit_cell(files[RESULTS], "090001B0100A01", "PAN", "300")
    path = zipkit.write(tmp_path / published.zip.name,
                        [zipkit.member(RESULTS, forged, hidden=True)]
                        + [zipkit.member(n, d) for n, d in files.items()])
    refused_by_both(capsys, path, published.zip.name)


@pytest.mark.parametrize("name", ["../LEEME.txt", "/tmp/LEEME.txt", "nodos/../../LEEME.txt",
                                  "LEEME.txt\x1b[2J"])
def test_a_member_named_outside_the_folder_is_refused(published, capsys, tmp_path, name):
    """Listed in an HQ-signed manifest, so the hashes hold: only the name is hostile."""
    files = resigned(published, {**cutkit.members(published.zip), name: b"fuera\n"})
    path = zipkit.write(tmp_path / published.zip.name, [zipkit.member(n, d) for n, d in files.items()])
    refused_by_both(capsys, path, name.replace("\x1b", "\\x1b"))   # printed escaped


def test_a_member_that_is_a_link_is_refused(published, capsys, tmp_path):
    files = resigned(published, {**cutkit.members(published.zip), "nodos/hq.pub": b"/etc/passwd"})
    members = [zipkit.member(n, d, **({"mode": 0o120777} if n == "nodos/hq.pub" else {}))
               for n, d in files.items()]
    refused_by_both(capsys, zipkit.write(tmp_path / published.zip.name, members), "nodos/hq.pub")


def test_a_member_that_inflates_to_gigabytes_is_refused_in_bounded_memory(published, tmp_path):
    """LEEME.txt, listed in the HQ-signed manifest, declares and inflates to 3 GiB of zeros
    (3 MB in the zip). Both verifiers read the manifest, then each listed file."""
    files = resigned(published, {**cutkit.members(published.zip), "LEEME.txt": b"\0"})
    members = [zipkit.bomb(n, BOMB_MIB) if n == "LEEME.txt" else zipkit.member(n, d)
               for n, d in files.items()]
    path = zipkit.write(tmp_path / published.zip.name, members)
    for verdict, stderr in limited_verdicts(path):
        assert "Traceback" not in stderr and "MemoryError" not in stderr, stderr[-2000:]
        assert (verdict.code, verdict.subject) == (1, "LEEME.txt"), verdict.text


def _gzip_bomb(path: Path, mib: int) -> Path:
    deflated = zipkit.bomb("x", mib).payload
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + deflated
                     + (0).to_bytes(4, "little") + ((mib << 20) & 0xFFFFFFFF).to_bytes(4, "little"))
    return path


def test_catalog_from_a_release_that_inflates_to_gigabytes_is_refused(tmp_path):
    """`catd-hq catalog --from` a gzip or a cut zip whose CSV inflates to 3 GiB: exit 2
    naming the file, nothing written, in bounded memory."""
    gz = _gzip_bomb(tmp_path / "bd-gobierno.csv.gz", BOMB_MIB)
    cut_zip = zipkit.write(tmp_path / "20240602_2000_PREP_GUB_CDMX.zip",
                           [zipkit.bomb("CDMX_GUB_2024.csv", BOMB_MIB)])
    for source in (gz, cut_zip):
        out = tmp_path / "catalogo.json"
        run = run_limited([sys.executable, "-c", CLI, "catalog", "--from", str(source), "--out", str(out)])
        assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr, run.stderr[-2000:]
        assert run.returncode == 2, run.stderr
        assert str(source) in run.stderr and ("GiB" in run.stderr or "MiB" in run.stderr), run.stderr
        assert not out.exists()


def test_text_from_the_cut_cannot_rewrite_the_verifiers_output(published, capsys, tmp_path):
    """A forged acta key carrying terminal escapes (cursor up, erase line) would turn the
    FAIL line into an "ok" on the representative's screen: nothing read from a cut is printed
    with a control character in it."""
    files = cutkit.members(published.zip)
    lines = cutkit.results_lines(files[RESULTS])
    cells = lines[5].split("|")
    cells[1] = '="\x1b[1A\x1b[2Kok: 20240602_2000_PREP_GUB_CDMX.zip\r"'
    lines[5] = "|".join(cells)
    forged = cutkit.rewrite(published.zip, tmp_path / "forged" / published.zip.name,
                            replace={RESULTS: cutkit.join_lines(lines)}, resign=published.hq.private_key())
    capsys.readouterr()
    code = cli.main(["verify-release", str(forged)])
    ours = capsys.readouterr().err
    theirs = subprocess.run([sys.executable, "-I", str(TOOL), str(forged)], capture_output=True, text=True,
                            timeout=120)
    for got, err in ((code, ours), (theirs.returncode, theirs.stderr)):
        assert got == 1 and "FAIL acta " in err, err
        assert not any(ch in err for ch in "\x1b\r"), repr(err)
        assert "\\x1b[1A" in err, "shown escaped, so the forgery is visible"

"""One writer per partial upload at any moment, within a process and across processes: HQ never
stores (or says 200 for) bytes that do not hash to the blob's name (issue 12)."""

from __future__ import annotations

import random
import signal

from catd_node.datadir import DataDir
from hq.store import HQDir
from sync import protocol
from tests.hq.rawput import files_of_size, head_is_truthful, open_put, signed_head, signed_put
from tests.hqkit import HQProcess, append_image, post_chain
from tests.polling import until

SIZE = 64 * 1024


async def test_slow_writer_waiter_and_third_writer_never_store_wrong_bytes(hq_node: DataDir, hq_dir: HQDir,
                                                                          hq_server) -> None:
    """The attack pass's race, driven step by step: W1 holds the partial mid-body, W2 arrives
    while W1 holds it, W1 finishes its half, W2 writes, W3 tries to finish the blob from what
    HEAD reports, then W2 sends its last byte."""
    url = hq_server.url
    data = random.Random(12).randbytes(SIZE)
    sha = append_image(hq_node, data)
    await post_chain(url, hq_node)
    half = SIZE // 2
    first, second = data[:half], data[half:]

    w1 = await open_put(url, hq_node, sha, 0, SIZE, half)  # the slow writer
    await w1.send(first[:-1])
    await until(lambda: files_of_size(hq_dir, half - 1), "W1's bytes on disk (W1 holds the partial)")
    w2 = await open_put(url, hq_node, sha, half, SIZE, SIZE - half)  # arrives while W1 holds it
    await w2.send(second[:-1])
    await signed_head(url, hq_node, sha)  # a round trip: W2's request has reached HQ meanwhile
    await w1.send(first[-1:])
    w1_status, _, w1_body = await w1.answer
    assert (w1_status, w1_body.get("offset")) == (202, half)
    # W2 either waited and now writes, or was told another upload was under way: then it tries again.
    await until(lambda: w2.answer.done() or files_of_size(hq_dir, SIZE - 1), "W2 writing or refused")
    waiter_refusal = None
    if w2.answer.done():
        waiter_refusal = w2.answer.result()
        w2 = await open_put(url, hq_node, sha, half, SIZE, SIZE - half)
        await w2.send(second[:-1])
        await until(lambda: files_of_size(hq_dir, SIZE - 1), "W2's retry writing")
    assert await head_is_truthful(url, hq_node, hq_dir, sha) == 404
    # W3 finishes the blob from the offset HEAD reports, while W2 is still writing.
    _, held = await signed_head(url, hq_node, sha)
    w3_status, w3_body, w3_headers = await signed_put(url, hq_node, sha, data[int(held or 0):], SIZE,
                                                      int(held or 0))
    await head_is_truthful(url, hq_node, hq_dir, sha)
    await w2.send(second[-1:])
    w2_status, _, _ = await w2.answer
    assert await head_is_truthful(url, hq_node, hq_dir, sha) == 200
    assert hq_dir.blobs().read(sha) == data
    # One writer at a time: the waiter and the third writer were refused, not interleaved.
    assert (w3_status, w3_body.get("error")) == (409, protocol.UPLOAD_IN_PROGRESS), (w3_status, w3_body)
    assert int(w3_headers["Retry-After"]) >= 1 and w3_body["offset"] == half
    if waiter_refusal is not None:
        assert (waiter_refusal[0], waiter_refusal[2]["error"]) == (409, protocol.UPLOAD_IN_PROGRESS)
    assert w2_status == 201
    w1.close()
    w2.close()


async def test_one_writer_per_partial_across_processes(hq_node: DataDir, hq_dir: HQDir, tmp_path) -> None:
    """Two `catd-hq serve` processes on one data directory: while a PUT holds the node's
    partial on one, a PUT of the same blob by the same node on the other is refused."""
    one, two = HQProcess(hq_dir, tmp_path / "one.log"), HQProcess(hq_dir, tmp_path / "two.log")
    one.start(0)
    two.start(0)
    try:
        data = random.Random(13).randbytes(SIZE)
        sha = append_image(hq_node, data)
        await post_chain(one.url, hq_node)
        holder = await open_put(one.url, hq_node, sha, 0, SIZE, SIZE)
        await holder.send(data[:100])
        await until(lambda: files_of_size(hq_dir, 100), "the first process writing", timeout=20)
        _, held = await signed_head(two.url, hq_node, sha)  # finish from what the other process reports
        status, body, _ = await signed_put(two.url, hq_node, sha, data[int(held or 0):], SIZE, int(held or 0))
        await head_is_truthful(two.url, hq_node, hq_dir, sha)
        await holder.send(data[100:])
        holder_status = (await holder.answer)[0]
        assert await head_is_truthful(two.url, hq_node, hq_dir, sha) == 200
        assert holder_status == 201
        assert (status, body.get("error")) == (409, protocol.UPLOAD_IN_PROGRESS), (status, body)
        holder.close()
    finally:
        for proc in (one, two):
            if proc.proc is not None and proc.proc.poll() is None:
                proc.kill()


async def test_a_killed_writer_leaves_no_lock_and_no_bytes_it_did_not_commit(
        hq_node: DataDir, hq_dir: HQDir, hq_process: HQProcess) -> None:
    """SIGKILL while a PUT is mid-body: the OS drops its file lock, the bytes it had not made
    durable are not offered for resumption, and the node uploads the blob in full."""
    data = random.Random(14).randbytes(SIZE)
    sha = append_image(hq_node, data)
    await post_chain(hq_process.url, hq_node)
    writer = await open_put(hq_process.url, hq_node, sha, 0, SIZE, SIZE)
    await writer.send(data[:1000])
    await until(lambda: files_of_size(hq_dir, 1000), "the writer's bytes on disk", timeout=20)
    assert hq_process.kill() == -signal.SIGKILL
    writer.close()
    url = hq_process.restart()
    assert await signed_head(url, hq_node, sha) == (404, "0")
    assert not files_of_size(hq_dir, 1000), "the killed writer's scratch file survived start-up"
    assert (await signed_put(url, hq_node, sha, data, SIZE))[0] == 201
    assert await head_is_truthful(url, hq_node, hq_dir, sha) == 200

"""Odd request bodies get a clear 4xx, never a 500 (issue 14)."""

from __future__ import annotations

import pytest

from tests.web.test_uploads import files_under, make_device

B = "xYzBoundary"
MALFORMED = {
    "no boundary": ("multipart/form-data", b"--x\r\n\r\n"),
    "garbage": (f"multipart/form-data; boundary={B}", b"this is not multipart at all"),
    "no part headers end": (f"multipart/form-data; boundary={B}",
                            f"--{B}\r\nContent-Disposition: form-data; name=\"token\"".encode()),
    "bad header line": (f"multipart/form-data; boundary={B}",
                        f"--{B}\r\nno colon here\r\n\r\nx\r\n--{B}--\r\n".encode()),
    "truncated file": (f"multipart/form-data; boundary={B}",
                       f"--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
                       f"\r\n\xff\xd8 cut here".encode("latin-1")),
    "nested multipart": (f"multipart/form-data; boundary={B}",
                         f"--{B}\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n"
                         f"\r\nx\r\n--inner--\r\n--{B}--\r\n".encode()),
    "not multipart": ("application/octet-stream", b"\xff\xd8\xff"),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_upload_body_gets_a_clear_4xx(case, clerks, signed_in, browser):
    coco = await signed_in("coco")
    token = await make_device(coco)
    phone = browser()
    content_type, body = MALFORMED[case]
    async with phone.session.post(f"{phone.base}/uploads", data=body, headers={
            "Content-Type": content_type, "Authorization": f"Bearer {token}"}) as r:
        page = await r.text()
        assert 400 <= r.status < 500, (r.status, page[:300])
        assert "Traceback" not in page
    assert [f for f in files_under(clerks.inbox / "uploads") if not f.endswith(".part")] == []

"""History's "request as sent" of an edit whose references went as links (EvoLink's ``image_urls``)."""

from __future__ import annotations

import json

import pytest

from lib import history as H
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.media_support import image_bytes

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

KEY = "evo-history-9w2p"
FOX = image_bytes((96, 64), colour=(220, 120, 20))
OWL = image_bytes((64, 96), colour=(20, 120, 220))


def test_the_links_sent_are_shown_without_the_key_and_a_link_no_longer_kept_names_its_file(sandbox, tmp_path):
    store = Store(tmp_path / "db.sqlite")
    settings = ClientSettings(
        provider="evolink",
        base_url=sandbox.evolink_base_url,
        api_key=KEY,
        key_source="typed",
        read_timeout_s=10.0,
        max_retries=0,
        use_fallback=False,
    )
    request = GenerationRequest(
        prompt="the fox and the owl", size="1:1", images=[ReferenceImage("fox.png", FOX), ReferenceImage("owl.png", OWL)]
    )
    with ImageClient(settings=settings, recorder=store, limiter=ProviderLimiter(rate_per_s=1000, burst=1000)) as client:
        out = client.generate(request)
    assert out.ok, out.error
    store.flush()
    (attempt,) = [a for a in store.run(out.run_id)["attempts"]]
    sent = H.attempt_detail(store, attempt["id"])["request"]
    assert sent["body"]["image_urls"] == out.preview.body["image_urls"]
    assert all(u.startswith(sandbox.sandbox.files_root + "/files/") for u in sent["body"]["image_urls"])
    assert KEY not in json.dumps(sent) and sent["headers"]["Authorization"].endswith(KEY[-4:])

    store.db.execute("UPDATE uploads SET created_at = created_at + 3600 WHERE url = ?", [out.preview.body["image_urls"][1]])
    again = H.attempt_detail(store, attempt["id"])["request"]["body"]["image_urls"]
    assert again[0] == out.preview.body["image_urls"][0] and again[1] == "(link no longer kept: owl.png)"


def test_a_plain_generation_has_no_image_urls(tmp_path):
    from tests.support.history_seed import add

    store = Store(tmp_path / "db.sqlite")
    aid = add(store, at=1_800_000_000.0, provider="evolink", model="gpt-image-2")
    assert "image_urls" not in H.attempt_detail(store, aid)["request"]["body"]

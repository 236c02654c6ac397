"""The moderation check's setting per provider: secrets.toml, the environment, and what a page or command chooses."""

from __future__ import annotations

import pytest

from lib.config import Config, client_settings, read_moderation, switch


@pytest.mark.parametrize(
    "secrets,environ,provider,expected",
    [
        ({}, {}, "openai", (False, "")),  # off unless asked for
        ({"moderation": {"openai": True}}, {}, "openai", (True, "[moderation] openai in secrets.toml")),
        ({"moderation": {"openai": True}}, {}, "wisgate", (False, "")),
        ({"moderation": {"default": "on"}}, {}, "evolink", (True, "[moderation] default in secrets.toml")),
        ({"moderation": {"default": True, "evolink": False}}, {}, "evolink", (False, "[moderation] evolink in secrets.toml")),
        ({}, {"IMAGELAB_MODERATE_OPENAI": "1"}, "openai", (True, "$IMAGELAB_MODERATE_OPENAI")),
        ({}, {"IMAGELAB_MODERATE": "yes"}, "custom", (True, "$IMAGELAB_MODERATE")),
        ({"moderation": {"openai": False}}, {"IMAGELAB_MODERATE_OPENAI": "1"}, "openai", (False, "[moderation] openai in secrets.toml")),
        ({}, {"IMAGELAB_MODERATE": "1", "IMAGELAB_MODERATE_SANDBOX": "off"}, "sandbox", (False, "$IMAGELAB_MODERATE_SANDBOX")),
    ],
)
def test_where_the_setting_is_read(secrets, environ, provider, expected):
    assert read_moderation(secrets, environ).for_provider(provider) == expected


def test_values_that_are_not_on_or_off_are_named_and_ignored():
    cfg = read_moderation({"moderation": {"openai": "maybe", "openia": True}}, {"IMAGELAB_MODERATE_OPENAI": "true"})
    assert cfg.for_provider("openai") == (True, "$IMAGELAB_MODERATE_OPENAI")  # the next source in line
    assert any("'maybe' is not on or off" in p for p in cfg.problems)
    assert any("openia: not a provider" in p for p in cfg.problems)
    assert read_moderation({"moderation": "yes"}, {}).problems == ("[moderation] in secrets.toml must be a table; ignored",)
    assert [switch(v) for v in (True, "OFF", " on ", "2", 1)] == [True, False, True, None, None]


def test_settings_take_the_operators_setting_unless_the_page_or_command_chooses():
    cfg = Config.load(secrets={"moderation": {"openai": True}}, environ={})
    assert client_settings(cfg, "openai").moderate is True
    assert client_settings(cfg, "wisgate").moderate is False
    assert client_settings(cfg, "openai", moderate=False).moderate is False
    assert client_settings(cfg, "wisgate", moderate=True).moderate is True
    assert client_settings(cfg, "openai", moderate=None).moderate is True

"""lib/config.py: the one place that reads the environment and secrets.toml and builds ClientSettings."""

from __future__ import annotations

from lib import config, redact

KEY = "sk-cfg-" + "Qw7Er9" * 5


def test_keys_in_the_configuration_are_masked_and_host_names_are_not():
    cfg = config.Config.load(
        secrets={"IMAGELAB_API_HOST": "gateway.example.com", "OPENAI_API_KEY": KEY, "host_keys": {"gw.example.net": "hk-" + "Zx4Cv6" * 5}},
        environ={"IMAGELAB_PASSWORD": "pw-" + "Lm2Nb8" * 3},
    )
    assert cfg.app_password.startswith("pw-")
    text = f"https://gateway.example.com/v1 said {KEY} hk-{'Zx4Cv6' * 5} pw-{'Lm2Nb8' * 3}"
    shown = redact.scrub(text)
    assert "https://gateway.example.com/v1" in shown
    assert KEY[6:20] not in shown and "Zx4Cv6Zx4Cv6" not in shown and "Lm2Nb8Lm2Nb8" not in shown


def test_settings_are_built_with_the_key_bound_to_its_host():
    cfg = config.Config.load(secrets={}, environ={"OPENAI_API_KEY": KEY, "IMAGELAB_ALLOW_PRIVATE_IMAGES": "yes"})
    settings = config.client_settings(cfg, "openai", read_timeout_s=42.0)
    assert (settings.api_key, settings.key_source, settings.key_host) == (KEY, "environment", "api.openai.com")
    assert settings.read_timeout_s == 42.0 and settings.allow_private_images
    elsewhere = config.client_settings(cfg, "openai", base_url="https://collector.example.net/v1")
    assert elsewhere.key_problem(elsewhere.endpoint.url)  # a configured key is not sent to another host
    typed = config.client_settings(
        cfg, "custom", base_url="https://gw.example.com/v1", typed_key="sk-typed-" + "Aa1Bb2" * 4, typed_source="argument"
    )
    assert typed.key_source == "argument" and typed.key_problem(typed.endpoint.url) is None


def test_the_same_settings_move_to_another_provider_with_what_is_shared():
    cfg = config.Config.load(secrets={}, environ={})
    first = config.client_settings(cfg, "sandbox", base_url="http://127.0.0.1:9/v1", read_timeout_s=77.0, max_retries=5)
    moved = config.client_settings(cfg, "custom", base_url="https://gw.example.com/v1", **config.shared_values(first))
    assert (moved.read_timeout_s, moved.max_retries, moved.provider) == (77.0, 5, "custom")


def test_secrets_files_merge_the_later_wins_and_an_unreadable_one_is_named(tmp_path):
    user, project, broken = tmp_path / "user.toml", tmp_path / "project.toml", tmp_path / "broken.toml"
    user.write_text('app_password = "from-user"\nallow_private_images = true\n')
    project.write_text('app_password = "from-project"\n')
    broken.write_text("this is = = not toml")
    config.forget_secrets_files()
    files = config.read_secrets_files([user, project, broken])
    assert files.values["app_password"] == "from-project" and files.values["allow_private_images"] is True
    assert [path for path, _ in files.files] == [user, project]
    assert len(files.problems) == 1 and "broken.toml" in files.problems[0]
    config.forget_secrets_files()


def test_flags_read_true_from_either_place():
    assert config.Config(secrets={"allow_private_images": True}, environ={}).allow_private_images
    assert config.Config(secrets={}, environ={"IMAGELAB_ALLOW_PRIVATE_IMAGES": "On"}).allow_private_images
    assert not config.Config(secrets={"allow_private_images": "no"}, environ={"IMAGELAB_ALLOW_PRIVATE_IMAGES": "0"}).allow_private_images


def test_the_custom_provider_s_dialect_comes_from_the_files_found_and_the_setting(tmp_path, monkeypatch):
    from lib.config import Config, chosen_dialect, find_dialects
    from lib.dialects import Dialect, DialectError
    from tests.support.dialect_support import README_DIALECT_NAME, install_readme_dialect

    data = tmp_path / "data"
    install_readme_dialect(data)
    monkeypatch.setattr("lib.config.secrets_paths", lambda: [tmp_path / "none" / "secrets.toml"])
    found, problems = find_dialects(data)
    assert list(found) == [README_DIALECT_NAME] and problems == []
    assert isinstance(chosen_dialect("custom", README_DIALECT_NAME, data), Dialect)
    assert chosen_dialect("openai", README_DIALECT_NAME, data) is None  # only the Custom provider speaks a dialect
    assert chosen_dialect("custom", "", data) is None
    assert isinstance(chosen_dialect("custom", "acme", data), DialectError)
    assert Config.load(secrets={"dialect": " acme "}, environ={}).dialect_name == "acme"
    assert Config.load(secrets={}, environ={"IMAGELAB_DIALECT": "sandbox jobs"}).dialect_name == "sandbox jobs"

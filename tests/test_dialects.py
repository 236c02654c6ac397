"""Gateway dialect files: reading them (every problem with its line), the requests they
build, the answers they read, and a starting file from a pasted answer."""

from __future__ import annotations

import json

import pytest

from lib import dialects as D

ACME = """
name = "acme tasks"

[create]
path = "/api/v1/jobs/createTask"
[create.body]
model = "{model}"
input.prompt = "{prompt}"
input.image_size = "{size}"
input.quality = "{quality}"
input.n = "{n}"
callBackUrl = ""
[create.answer]
task_id = "data.taskId"
error = "msg"

[poll]
path = "/api/v1/jobs/recordInfo"
query = { taskId = "{task_id}" }
interval_s = 2
[poll.answer]
status = "data.state"
done = ["success"]
failed = ["fail"]
pending = ["waiting", "queuing", "generating"]
results = "data.resultJson.$json.resultUrls"
error = "data.failMsg"
error_code = "data.failCode"
progress = "data.progress"
"""


def test_a_task_dialect_builds_its_requests_from_the_apps_parameters():
    d = D.parse_dialect(ACME)
    assert d.name == "acme tasks" and d.is_async and d.interval_s == 2.0
    create = d.create_request({"model": "gpt-image-2", "prompt": 'a sign "OPEN"', "size": "1024x1536", "n": 2, "quality": None})
    assert create.method == "POST" and create.url("https://gw.example.com/openai/v1") == "https://gw.example.com/api/v1/jobs/createTask"
    assert create.body == {
        "model": "gpt-image-2",
        "input": {"prompt": 'a sign "OPEN"', "image_size": "1024x1536", "n": 2},  # n keeps its type; no quality: left out
        "callBackUrl": "",
    }
    poll = d.poll_request("t/1 2")
    assert poll.method == "GET" and poll.url("https://gw.example.com/v1") == "https://gw.example.com/api/v1/jobs/recordInfo?taskId=t%2F1+2"
    assert "acme tasks" in d.describe() and "data.taskId" in d.describe()


def test_a_task_dialect_reads_every_state_of_its_answers():
    d = D.parse_dialect(ACME)
    assert d.read_create({"code": 200, "msg": "success", "data": {"taskId": "abc123"}}).task_id == "abc123"
    refused = d.read_create({"code": 402, "msg": "Insufficient credits"})
    assert (refused.state, refused.error) == ("failed", "Insufficient credits")
    assert d.read_poll({"data": {"state": "Generating", "progress": "40"}}).state == "pending"
    assert d.read_poll({"data": {"state": "generating"}}).progress is None
    urls = ["https://cdn.example.com/a.png", "https://cdn.example.com/b.png"]
    done = d.read_poll({"data": {"state": "success", "resultJson": json.dumps({"resultUrls": urls})}})
    assert done.state == "done" and [(i.kind, i.value) for i in done.items] == [("url", u) for u in urls]
    failed = d.read_poll({"data": {"state": "fail", "failCode": 501, "failMsg": "content flagged"}})
    assert (failed.state, failed.error, failed.error_code, failed.items) == ("failed", "content flagged", "501", [])
    odd = d.read_poll({"data": {"state": "paused"}})
    assert (odd.state, odd.status_word) == ("unknown", "paused")
    assert d.read_poll("not even a dict").state == "unknown"


def test_a_sync_dialect_reads_images_from_the_create_answer():
    d = D.parse_dialect(
        """
[create]
path = "generate"
[create.body]
prompt = "{prompt}"
width = "{width}"
height = "{height}"
[create.answer]
results = "output[*].image"
error = "error.message"
"""
    )
    assert not d.is_async and d.name == "dialect"
    spec = d.create_request({"prompt": "p", "size": "1536x1024"})
    assert spec.body == {"prompt": "p", "width": 1536, "height": 1024}
    assert spec.url("https://gw.example.com/v2/") == "https://gw.example.com/v2/generate"
    assert d.create_request({"prompt": "p", "size": "auto"}).body == {"prompt": "p"}
    got = d.read_create({"output": [{"image": "https://x.example/1.webp"}, {"image": {"b64_json": "aGVsbG8="}}]})
    assert got.state == "done" and [i.kind for i in got.items] == ["url", "b64"]
    assert d.read_create({"error": {"message": "bad size"}}).error == "bad size"
    with pytest.raises(D.DialectError, match="no poll"):
        d.poll_request("x")


def test_every_problem_of_a_file_is_listed_with_its_line():
    text = """name = "typos"
[create]
path = "https://other.example.com/create"
method = "PUT"
[create.body]
prompt = "{promt}"
[create.answer]
taks_id = "data.id"
task_id = "data..id"
[poll]
path = "/tasks"
[poll.answer]
done = ["ok"]
failed = ["ok"]
"""
    with pytest.raises(D.DialectProblems) as caught:
        D.parse_dialect(text, source="acme.toml")
    by_line: dict[int | None, str] = {}
    for p in caught.value.problems:
        by_line[p.line] = by_line.get(p.line, "") + " | " + p.message
    assert "full URL" in by_line[3] and "GET or POST" in by_line[4]
    assert "{promt}" in by_line[6] and "did you mean {prompt}" in by_line[6]
    assert "taks_id" in by_line[8] and "did you mean 'task_id'" in by_line[8]
    assert "empty step" in by_line[9]
    assert "never names {task_id}" in by_line[11]
    assert "status' is missing" in by_line[12] and "ok stand in more than one" in by_line[12]
    assert str(caught.value).startswith("acme.toml: ")


def test_a_syntax_error_names_its_line_and_a_huge_file_is_refused():
    with pytest.raises(D.DialectError) as caught:
        D.parse_dialect('[create]\npath = "/x"\nbody = {prompt = }\n')
    assert caught.value.line == 3 and "not valid TOML" in caught.value.message
    with pytest.raises(D.DialectError, match="larger than"):
        D.parse_dialect("# " + "x" * (D.MAX_FILE_BYTES + 1))
    with pytest.raises(D.DialectProblems, match="no \\[create\\] table"):
        D.parse_dialect('name = "empty"\n')


@pytest.mark.parametrize(
    "path, payload, values",
    [
        ("data.items[1].url", {"data": {"items": [{"url": "a"}, {"url": "b"}]}}, ["b"]),
        ("data.items[*].url", {"data": {"items": [{"url": "a"}, {"url": "b"}]}}, ["a", "b"]),
        ("data.items.url", {"data": {"items": [{"url": "a"}, {"nope": 1}]}}, ["a"]),  # a list on the way fans out
        ("r.$json.u", {"r": '{"u": 1}'}, [1]),
        ("r.$json.u", {"r": {"u": 2}}, [2]),  # already an object: read as it is
        ("r.$json.u", {"r": "not json"}, []),
        ("r.$json.u", {"r": "[" * 10_000}, []),  # nesting past the limit is not read
        ("a[5]", {"a": [1]}, []),
        ("a.b", {"a": "text"}, []),
    ],
)
def test_paths_read_what_they_name_and_nothing_else(path, payload, values):
    assert D.AnswerPath.parse(path).values(payload) == values


@pytest.mark.parametrize("bad", ["", "a..b", "a[x]", "a[1", ".a", "a." + ".".join(["b"] * 40)])
def test_bad_paths_are_refused(bad):
    with pytest.raises(ValueError):
        D.AnswerPath.parse(bad)


@pytest.mark.parametrize(
    "answer, expected",
    [
        (
            {"code": 0, "data": {"taskId": "t-1", "state": "waiting"}},
            {"task_id": "data.taskId", "status": "data.state", "status_word": "waiting"},
        ),
        (
            {"code": 200, "data": {"state": "success", "resultJson": json.dumps({"resultUrls": ["https://cdn.example.com/x.png"]})}},
            {"status": "data.state", "results": "data.resultJson.$json.resultUrls"},
        ),
        (
            {
                "id": "task-unified-1",
                "object": "image.generation.task",
                "status": "completed",
                "results": ["https://files.example.com/image/1"],
            },
            {"task_id": "id", "status": "status", "results": "results"},
        ),
        ({"data": {"status": "failed", "error": "content_policy_violation"}}, {"status": "data.status", "error": "data.error"}),
        ({"code": 40001, "msg": "Invalid size"}, {"error_code": "code", "error": "msg"}),
    ],
)
def test_describe_this_answer_finds_the_fields_a_dialect_reads(answer, expected):
    found = D.describe_answer(json.dumps(answer))
    assert {k: found.get(k) for k in expected} == expected


def test_the_starting_file_from_a_full_answer_is_a_working_dialect():
    found = D.describe_answer(
        json.dumps({"code": 0, "data": {"taskId": "t-1", "state": "success", "resultJson": '{"resultUrls": ["https://c.example/a.png"]}'}})
    )
    d = D.parse_dialect(D.starting_file(found, name="pasted"))
    assert d.name == "pasted" and d.task_id.text == "data.taskId" and "success" in d.done
    done = d.read_poll({"data": {"state": "success", "resultJson": '{"resultUrls": ["https://c.example/b.png"]}'}})
    assert [i.value for i in done.items] == ["https://c.example/b.png"]
    with pytest.raises(ValueError):
        D.describe_answer("<html>not json</html>")


def test_dialect_files_are_found_and_one_bad_file_hides_no_other(tmp_path):
    (tmp_path / "dialects.toml").write_text(
        ACME.replace('name = "acme tasks"', "[acme]").replace("[create", "[acme.create").replace("[poll", "[acme.poll")
        + '\n[other]\nname = "other sync"\n[other.create]\npath = "/gen"\n[other.create.body]\nprompt = "{prompt}"\n'
    )
    folder = tmp_path / "dialects"
    folder.mkdir()
    (folder / "broken.toml").write_text('[create]\npath = "/x"\n[create.body]\nprompt = "{nope}"\n')
    (folder / "solo.toml").write_text('[create]\npath = "/solo"\n')
    (folder / "dup.toml").write_text('name = "acme"\n[create]\npath = "/dup"\n')
    found, problems = D.load_dialects(D.dialect_files(tmp_path, None))
    assert sorted(found) == ["acme", "other sync", "solo"]
    assert found["acme"].poll_query == {"taskId": "{task_id}"} and found["acme"].source.endswith("dialects.toml")
    assert len(problems) == 2
    assert any("broken.toml" in str(p) and p.line == 4 and "{nope}" in p.message for p in problems)
    assert any("dup.toml" in str(p) and "already defined" in p.message for p in problems)


def test_choose_finds_a_dialect_by_name_or_says_why_not_with_file_and_line(tmp_path):
    folder = tmp_path / "dialects"
    folder.mkdir()
    (folder / "acme.toml").write_text(ACME)
    broken = folder / "broken.toml"
    broken.write_text('name = "broken"\n[create]\npath = "/go"\n[poll]\npath = "/check/{task_id}"\n[poll.answer]\nstatus = "state"\n')
    paths = D.dialect_files(tmp_path)
    assert D.choose(D.OPENAI_COMPATIBLE, paths) is None
    assert D.choose("acme tasks", paths).name == "acme tasks"
    missing = D.choose("broken", paths)
    assert isinstance(missing, D.DialectError)
    text = str(missing)
    assert "'broken' is not available" in text and "acme tasks" in text
    assert f"{broken}: line 6: 'poll.answer.done' is missing" in text  # the file and the line of the problem
    assert "not defined" in str(D.choose("nothing", [folder / "acme.toml"]))


def test_report_answer_describes_and_reads_a_pasted_answer_through_a_dialect():
    d = D.parse_dialect(ACME)
    pending = D.report_answer('{"code": 200, "data": {"taskId": "abc", "state": "queuing"}}', d)
    assert dict(pending.fields)["task id"] == "data.taskId" and dict(pending.fields)["its word"] == "queuing"
    assert pending.read[:2] == [
        "As a create answer: task id at data.taskId: abc.",
        "As a poll answer: status 'queuing' at data.state (pending).",
    ]
    odd = D.report_answer('{"data": {"state": "paused"}}', d)
    assert "(not one of the file's words)" in odd.read[1]
    assert D.report_answer("", d).problem and "not JSON" in D.report_answer("nope", d).problem
    assert D.report_answer('{"data": {"taskId": "x"}}').read == []  # no dialect in use: the fields only

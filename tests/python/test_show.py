"""`%crimpl show`: a job's files in the notebook by their type, read where
they are; a sweep's gallery and merged table; --follow updating in place."""
from __future__ import annotations


# A 1x1 PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def data_of(result, mime):
    return [m["content"]["data"][mime] for m in result.outputs
            if m["msg_type"] == "display_data" and mime in m["content"]["data"]]


def test_each_kind_of_file_is_shown_as_what_it_is(local_kernel, workdir):
    body = (
        f"echo {PNG} | base64 -d > plot.png\n"
        "printf 'alpha,loss\\n0.1,3\\n0.2,2\\n0.3,1\\n' > result.csv\n"
        "echo '{\"best\": 0.3}' > summary.json\n"
        "seq 1 100 > run.log\n"
        "head -c 64 /dev/urandom > model.bin\n"
        "printf '# Done\\n' > notes.md\n"
    )
    assert local_kernel.execute(f"%%crimpl submit --job kinds --wait\n{body}").ok
    shown = local_kernel.execute("%crimpl show kinds plot.png result.csv summary.json run.log model.bin notes.md --rows 2 --tail 3")
    assert shown.ok, shown.error
    assert data_of(shown, "image/png") == [PNG]
    table = data_of(shown, "text/html")
    assert any("result.csv: 2 columns, 3 rows, the first 2 shown" in html and "0.2" in html and "0.3" not in html
               for html in table), table
    assert data_of(shown, "application/json") == [{"best": 0.3}]
    assert "98\n99\n100" in shown.text and "\n97\n" not in shown.text
    assert "%crimpl fetch kinds 'model.bin'" in shown.text
    assert data_of(shown, "text/markdown") == ["# Done\n"]
    assert not (workdir / "plot.png").exists(), "show fetches nothing"

    outside = local_kernel.execute("%crimpl show kinds ../x")
    assert outside.reply["ename"] == "CrimplError" and "not a path inside the job directory" in outside.error
    missing = local_kernel.execute("%crimpl show kinds '*.parquet'")
    assert missing.reply["ename"] == "UsageError" and "%crimpl ls kinds" in missing.error


def test_a_sweep_shows_one_task_a_gallery_and_a_merged_table(local_kernel):
    body = (
        f"echo {PNG} | base64 -d > p.png\n"
        "printf 'x,square\\n%s,%s\\n' \"$CRIMPL_TASK_ID\" $((CRIMPL_TASK_ID * CRIMPL_TASK_ID)) > r.csv\n"
    )
    assert local_kernel.execute(f"%%crimpl submit --job sw --array 1-4 --wait\n{body}").ok
    one = local_kernel.execute("%crimpl show sw r.csv --task 3")
    assert one.ok and "3" in one.text and "9" in one.text and "16" not in one.text, one.text
    gallery = local_kernel.execute("%crimpl show sw p.png")
    html = "".join(data_of(gallery, "text/html"))
    assert html.count("<img") == 4 and "task 4" in html and f"base64,{PNG}" in html
    merged = local_kernel.execute("%crimpl show sw r.csv --merge")
    assert merged.ok and "r.csv: 2 columns, 4 rows" in merged.text, merged.text
    assert "task-0004" in merged.text and "16" in merged.text
    # The sweep's picture: one bar per task, under the task list and after a wait.
    for command in ("%crimpl status sw --tasks", "%crimpl wait sw"):
        pictures = data_of(local_kernel.execute(command), "image/svg+xml")
        assert len(pictures) == 1 and pictures[0].count("<rect") == 4, (command, pictures)


def test_follow_updates_the_display_while_the_job_runs_and_ends_with_it(local_kernel):
    body = "echo first > progress.txt\nsleep 3\necho second > progress.txt\nsleep 3\n"
    assert local_kernel.execute(f"%%crimpl submit --job live\n{body}").ok
    shown = local_kernel.execute("%crimpl show live progress.txt --follow", timeout=60)
    assert shown.ok, shown.error
    # One display (shown before the file exists, or with its first content),
    # updated in place as the job rewrites the file.
    followed = [m for m in shown.outputs if m["msg_type"] in ("display_data", "update_display_data")
                and m["content"].get("transient", {}).get("display_id", "").startswith("crimpl-show-")]
    assert len({m["content"]["transient"]["display_id"] for m in followed}) == 1, followed
    texts = [m["content"]["data"]["text/plain"].strip() for m in followed]
    assert texts[-1] == "second" and "first" in texts, texts
    assert followed[-1]["msg_type"] == "update_display_data"
    assert "Job live ended complete" in shown.text

"""The jupyter_kernel_test conformance suite, with Rust samples and magics."""
from __future__ import annotations

import unittest

import jupyter_kernel_test


class CrimplKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "crimpl"
    language_name = "rust"
    file_extension = ".rs"

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("something on stderr");'
    completion_samples = [
        {"text": "%crimpl su", "matches": {"submit"}},
        {"text": "%crimpl server ", "matches": {"new", "list", "use", "show", "remove", "trust", "start", "stop",
                                                "terminate", "state", "delete-volume", "check", "update-image", "help"}},
    ]
    complete_code_samples = ["let x = 1;", "fn f() { }", "%crimpl jobs", "%%crimpl run\necho hi\n\n"]
    incomplete_code_samples = ["fn f() {", "let v = vec![1,", "%%crimpl run\necho hi"]
    invalid_code_samples = ["let x = 1; }", "(]"]
    code_generate_error = 'let x: i32 = "not a number";'
    code_execute_result = [{"code": "6 * 7", "result": "42"}]
    code_display_data = [
        {
            "code": 'println!("EVCXR_BEGIN_CONTENT text/html\\n<b>bold</b>\\nEVCXR_END_CONTENT");',
            "mime": "text/html",
        }
    ]
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6 * 7"
    code_inspect_sample = "%%crimpl submit"
    code_page_something = "%crimpl submit?"

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # The first Rust cell starts evcxr and builds its runtime: allow it time once.
        msg_id = cls.kc.execute("let _warm_up = 1;")
        reply = cls.kc.get_shell_msg(timeout=300)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "ok", reply["content"]


class CrimplIopubWelcomeTests(jupyter_kernel_test.IopubWelcomeTests):
    kernel_name = "crimpl"
    support_iopub_welcome = True


if __name__ == "__main__":
    unittest.main()
